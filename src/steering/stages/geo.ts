import type { Stage } from '../types.ts';

interface CompiledRule {
  name: string;
  countries: Set<string> | null;
  provinces: Set<string> | null;
  isps: Set<string> | null;
  tierOf: Map<string, number>;
}

/**
 * Orders zones by the policy: the first rule whose countries/provinces/isps all match gives
 * the tiers (a nested list is a tier of equals); zones it doesn't name follow in the
 * default order. Within a tier, a zone strong on the client's carrier goes first.
 */
export const geoStage: Stage = {
  name: 'geo',
  create(policy) {
    const tiersFrom = (list: (string | string[])[]) => {
      const m = new Map<string, number>();
      list.forEach((t, i) => {
        for (const z of typeof t === 'string' ? [t] : t) m.set(z, i);
      });
      return m;
    };
    const defaults = tiersFrom(policy.default);
    const compile = (
      name: string,
      zones: (string | string[])[],
      r: Partial<Record<'countries' | 'provinces' | 'isps', string[]>>,
    ): CompiledRule => {
      const tierOf = tiersFrom(zones);
      // zones the rule leaves out come after it, in default order
      const base = zones.length;
      for (const [z, t] of defaults) if (!tierOf.has(z)) tierOf.set(z, base + t);
      return {
        name,
        countries: r.countries ? new Set(r.countries) : null,
        provinces: r.provinces ? new Set(r.provinces) : null,
        isps: r.isps ? new Set(r.isps) : null,
        tierOf,
      };
    };
    const rules = policy.rules.map((r, i) => compile(r.name ?? `rule-${i}`, r.zones, r));
    const fallback = compile('default', policy.default, {});
    return (ctx) => {
      const loc = ctx.location;
      let rule = fallback;
      for (const r of rules) {
        if (r.countries && (loc.country === null || !r.countries.has(loc.country))) continue;
        if (r.provinces && (loc.province === null || !r.provinces.has(loc.province))) continue;
        if (r.isps && (loc.isp === null || !r.isps.has(loc.isp))) continue;
        rule = r;
        break;
      }
      ctx.rule = rule.name;
      const unlisted = rule.tierOf.size + 1;
      for (const c of ctx.candidates) {
        const t = rule.tierOf.get(c.zone.name) ?? unlisted;
        // ×2 leaves room to put carrier-strong zones first inside their tier
        c.tier = t * 2 + (loc.isp !== null && c.zone.isps.includes(loc.isp) ? 0 : 1);
      }
    };
  },
};
