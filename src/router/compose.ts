import type { Handler, RouteContext } from './types.ts';

/** Builds one runner from a chain (Hono's compose): calling next twice is a programming error. */
export function compose(handlers: readonly Handler[]): (ctx: RouteContext) => Promise<void> {
  return (ctx) => {
    let index = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= index) return Promise.reject(new Error(`router: stage ${i - 1} called next() twice`));
      index = i;
      const h = handlers[i];
      return h ? h(ctx, () => dispatch(i + 1)) : Promise.resolve();
    };
    return dispatch(0);
  };
}
