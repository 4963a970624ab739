import type { Stage } from '../types.ts';

/**
 * Orders each tier by weighted rendezvous hashing: score = −ln(u) / weight, lowest first,
 * with u the stage's draw for that endpoint. The chance an endpoint is first in its tier is
 * its share of the tier's weight (2:1 weights → 2/3 and 1/3), and the order is sticky when
 * the draw is.
 */
export const weightedStage: Stage = {
  name: 'weighted',
  create: () => (ctx) => {
    for (const c of ctx.candidates) c.score = -Math.log(ctx.uniform(c.ep.id)) / c.zone.weight;
    ctx.candidates.sort((a, b) => a.tier - b.tier || a.score - b.score);
  },
};
