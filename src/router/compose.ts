import type { Handler, RouteContext } from './types.ts';

const DONE: Promise<void> = Promise.resolve();

/** Builds one runner from a chain (Hono's compose): calling next twice is a programming error. */
export function compose(handlers: readonly Handler[]): (ctx: RouteContext) => Promise<void> {
  return (ctx) => {
    let index = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= index) return Promise.reject(new Error(`router: stage ${i - 1} called next() twice`));
      index = i;
      const h = handlers[i];
      if (!h) return DONE;
      try {
        return h(ctx, () => dispatch(i + 1)) ?? DONE;
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return dispatch(0);
  };
}
