import type { Stage } from '../types.ts';

/** Drops endpoints whose verdict is down; if all are down, keeps them all and marks the answer fail-open. */
export const healthyStage: Stage = {
  name: 'healthy',
  create: () => (ctx) => {
    const up = ctx.candidates.filter((c) => ctx.state.isUp(c.ep.id));
    if (up.length > 0) ctx.candidates = up;
    else if (ctx.candidates.length > 0) ctx.failOpen = true;
  },
};
