import type { Zone } from '../../topology/index.ts';
import type { Stage, SteeringState, ZoneShed } from '../types.ts';

const UNDER: ZoneShed = { load: 0, share: 0, over: false };

/**
 * A zone's shed share: as the zone loads decided it (hysteresis, slew), else straight from
 * its load: at L over capacity C, (L − C) / L. Example: C = 1000, L = 1250 → 20 %.
 */
export function zoneShed(state: SteeringState, zone: Zone): ZoneShed {
  const decided = state.shed?.(zone.name);
  if (decided) return decided;
  const load = state.load(zone.name);
  return load > zone.capacity ? { load, share: (load - zone.capacity) / load, over: true } : UNDER;
}

/**
 * Lets a zone over capacity shed its overflow share to the next tier: a client whose draw for
 * the zone is below its shed share sees it demoted behind the nearest later tier that holds a
 * zone not itself over capacity, and the over zones before that tier with it, so the client
 * lands on a zone with room (down zones are gone already: `healthy` ran first). With no
 * such tier the zone keeps its place: when every zone is over, answers follow preference.
 * The draw is the sticky one (per client subnet), so a growing share only adds clients to the
 * shed set and a shrinking one only returns them: nobody bounces between zones.
 */
export const capacityStage: Stage = {
  name: 'capacity',
  create(policy) {
    if (!policy.capacity) return null;
    return (ctx) => {
      // every endpoint is down: the answer is a guess already, nowhere better to send anyone
      if (ctx.failOpen) return;
      const cands = ctx.candidates;
      let sheds: ZoneShed[] | undefined;
      let tiers: number[] | undefined;
      for (const [i, c] of cands.entries()) {
        const s = zoneShed(ctx.state, c.zone);
        if (s.share <= 0 || ctx.uniform(`capacity:${c.zone.name}`) >= s.share) continue;
        sheds ??= cands.map((o) => zoneShed(ctx.state, o.zone));
        tiers ??= cands.map((o) => o.tier); // before any demotion: demoted zones don't make tiers
        let next = Number.POSITIVE_INFINITY;
        for (const [j, t] of tiers.entries()) if (t > tiers[i]! && t < next && !sheds[j]!.over) next = t;
        if (next === Number.POSITIVE_INFINITY) continue;
        c.tier = next + 0.5;
        // the client lands on the first zone with room: over zones it would meet first go behind it too
        for (const [j, o] of cands.entries())
          if (j !== i && tiers[j]! >= tiers[i]! && tiers[j]! < next && sheds[j]!.over)
            o.tier = Math.max(o.tier, next + 0.5);
      }
    };
  },
};
