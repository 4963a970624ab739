import { GeoFence, parseLatLng } from '../../geo/index.ts';
import { routerErrors } from '../errors.ts';
import { compileSource, RequestView, type SourceReader } from '../key-sources.ts';
import type { Stage } from '../types.ts';

interface CompiledMapping {
  name: string;
  from: SourceReader[];
  pattern: RegExp;
}

/**
 * Finds the sharding key: the resource's mapping (order id → shard, session id → zone,
 * or → a primary key), else the primary key sources, else a geo point through the fences.
 * Hostile values (bad JWT, bad lat/lng, unmatched mapping, too long) → 400 ERR_ROUTER_BAD_KEY.
 */
export const keyStage: Stage = {
  name: 'key',
  create(config, { topology, reject }) {
    const shards = topology.config.shards;
    const primary = shards.key.map(compileSource);
    const geo = shards.geo.map(compileSource);
    const fences = Object.entries(shards.fences).map(([name, f]) => ({
      fence: new GeoFence(name, f.geometry as never),
      shard: topology.fenceShard(name),
    }));
    const mappings = new Map<string, CompiledMapping>();
    for (const [name, m] of Object.entries(shards.mappings))
      mappings.set(name, { name, from: m.from.map(compileSource), pattern: new RegExp(m.pattern) });
    const max = config.maxKeyLength;
    const tooLong = (v: string, label: string) => {
      if (v.length > max)
        throw routerErrors.ERR_ROUTER_BAD_KEY(`router/key: ${label} is ${v.length} characters (at most ${max})`);
    };

    return (ctx, next) => {
      const view = new RequestView(ctx.req.headers, ctx.path, ctx.query);
      try {
        const mapping = ctx.resource?.key ? mappings.get(ctx.resource.key) : undefined;
        if (mapping) {
          for (const src of mapping.from) {
            const v = src(view);
            if (v === undefined) continue;
            tooLong(v, src.label);
            const g = mapping.pattern.exec(v)?.groups;
            if (!g)
              throw routerErrors.ERR_ROUTER_BAD_KEY(
                `router/key: ${src.label} does not match mapping "${mapping.name}"`,
              );
            ctx.keySource = `mapping:${mapping.name}`;
            if (g.shard !== undefined) {
              const s = Number(g.shard);
              if (!Number.isInteger(s) || s >= shards.count)
                throw routerErrors.ERR_ROUTER_BAD_KEY(
                  `router/key: shard ${g.shard} is out of range 0..${shards.count - 1}`,
                );
              ctx.shard = s;
            } else if (g.zone !== undefined) {
              if (!topology.hasZone(g.zone))
                return reject(
                  ctx,
                  400,
                  routerErrors.ERR_ROUTER_UNKNOWN_ZONE.code,
                  `router/key: ${src.label} names unknown zone "${g.zone}"`,
                );
              ctx.keyZone = g.zone;
            } else if (g.key !== undefined) ctx.key = g.key;
            return next();
          }
        }
        for (const src of primary) {
          const v = src(view);
          if (v === undefined) continue;
          tooLong(v, src.label);
          ctx.key = v;
          ctx.keySource = src.label;
          return next();
        }
        for (const src of geo) {
          const v = src(view);
          if (v === undefined) continue;
          tooLong(v, src.label);
          const p = parseLatLng(v);
          if (!p) throw routerErrors.ERR_ROUTER_BAD_KEY(`router/key: ${src.label} is not "lat,lng" within range`);
          const hit = fences.find((f) => f.fence.contains(p.lat, p.lng));
          if (hit) {
            ctx.shard = hit.shard;
            ctx.keySource = `geo:${hit.fence.name}`;
          }
          return next();
        }
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === routerErrors.ERR_ROUTER_BAD_KEY.code) return reject(ctx, 400, code, (e as Error).message);
        throw e;
      }
      return next();
    };
  },
};
