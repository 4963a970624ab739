import type { Stage } from '../types.ts';

/**
 * Prefers the zones real clients of this subnet (or, failing that, carrier) reach fastest,
 * from speed reports (SteeringState.latencyRank). Only with `latency: true` in the policy
 * and only when the state has a ranking for the client (enough reports); otherwise the
 * geo order stands. Ranked zones take the first tiers in ranking order; unranked zones
 * follow in their geo order. A zone the capacity stage demoted (tier x.5) stays behind the
 * next ranked zone, so shedding still works.
 */
export const latencyStage: Stage = {
  name: 'latency',
  create(policy) {
    if (!policy.latency) return null;
    return (ctx) => {
      const rankOf = ctx.state.latencyRank;
      if (!rankOf || ctx.candidates.length < 2) return;
      const zones: string[] = [];
      for (const c of ctx.candidates) if (!zones.includes(c.zone.name)) zones.push(c.zone.name);
      const rank = rankOf.call(ctx.state, ctx.clientKey, ctx.location.isp, zones);
      if (!rank || rank.length === 0) return;
      const n = rank.length;
      for (const c of ctx.candidates) {
        const pos = rank.indexOf(c.zone.name);
        const demoted = c.tier % 1 !== 0;
        c.tier = pos < 0 ? n + 1 + c.tier : demoted ? pos + 1.5 : pos;
      }
      ctx.rule = `${ctx.rule}+latency`;
      // the ranking holds for the whole reported subnet: let resolvers cache it that widely
      const slash = ctx.clientKey.lastIndexOf('/');
      const keyPrefix = Number(ctx.clientKey.slice(slash + 1));
      if (Number.isInteger(keyPrefix)) ctx.scope = Math.max(ctx.scope, keyPrefix);
    };
  },
};
