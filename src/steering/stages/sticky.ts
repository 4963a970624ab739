import { fnv1a } from '../../core/random.ts';
import type { Stage } from '../types.ts';

/**
 * Makes the draws of later stages a function of the client subnet, so the same subnet gets
 * the same order while health, load and config don't change (consistent hashing: with
 * rendezvous scores, removing one endpoint only moves the clients that had it first).
 * It widens the ECS scope to the sticky subnet so resolvers cache per subnet.
 */
export const stickyStage: Stage = {
  name: 'sticky',
  create(policy) {
    if (!policy.sticky) return null;
    return (ctx) => {
      const key = ctx.clientKey;
      const seed = fnv1a(key);
      ctx.uniform = (label) => (fnv1a(label, seed) + 0.5) / 4294967296;
      const stickyPrefix = ctx.location.family === 4 ? 24 : 56;
      ctx.scope = Math.max(ctx.scope, Math.min(stickyPrefix, ctx.location.family === 4 ? 32 : 128));
    };
  },
};
