import type { Stage } from '../types.ts';

/**
 * Lets a zone over capacity shed its overflow share to the next tier: at load L over
 * capacity C, a fraction (L − C) / L of clients (chosen by their sticky draw) see the zone
 * demoted behind the next tier. Example: C = 1000, L = 1250 → 20 % of clients move on.
 */
export const capacityStage: Stage = {
  name: 'capacity',
  create(policy) {
    if (!policy.capacity) return null;
    return (ctx) => {
      const cands = ctx.candidates;
      for (const c of cands) {
        const load = ctx.state.load(c.zone.name);
        if (load <= c.zone.capacity) continue;
        const share = (load - c.zone.capacity) / load;
        if (ctx.uniform(`capacity:${c.zone.name}`) >= share) continue;
        let next = Number.POSITIVE_INFINITY;
        for (const o of cands) if (o.tier > c.tier && o.tier < next) next = o.tier;
        if (next !== Number.POSITIVE_INFINITY) c.tier = next + 0.5;
      }
    };
  },
};
