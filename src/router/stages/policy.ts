import { GLOBAL } from '../../shardmap/index.ts';
import { routerErrors } from '../errors.ts';
import type { Stage } from '../types.ts';

/**
 * Chooses the zone that answers, by resource class (owner lookup included):
 * - global: reads here; writes to the zone holding the global role (the core zone);
 * - sharded: the shard's owner; safe reads of `minutes`/`eventual` data here, with a second read;
 * - local: the zone the key names (a session lives where it was made), else here;
 * - no key: router.defaultZone (this zone, or the core zone).
 */
export const policyStage: Stage = {
  name: 'policy',
  create(config, { zone, map, reject }) {
    return (ctx, next) => {
      if (!map.ready())
        return reject(ctx, 503, routerErrors.ERR_ROUTER_NO_MAP.code, 'router: the shard map is not loaded yet');
      const r = ctx.resource;
      const core = () => map.entry(GLOBAL);
      if (r?.class === 'global') {
        if (ctx.safe) {
          ctx.target = zone;
          ctx.why = 'global-read';
        } else {
          ctx.shard = GLOBAL;
          ctx.owner = core();
          ctx.target = ctx.owner.zone;
          ctx.why = 'core-write';
        }
        return next();
      }
      if (r?.class === 'local') {
        ctx.target = ctx.keyZone ?? zone;
        ctx.why = ctx.keyZone ? 'key-zone' : 'local';
        return next();
      }
      if (ctx.shard === undefined) {
        ctx.target = config.defaultZone === 'core' ? core().zone : zone;
        ctx.why = 'default';
        return next();
      }
      ctx.owner = map.entry(ctx.shard);
      if (ctx.safe && r && (r.freshness === 'minutes' || r.freshness === 'eventual') && ctx.owner.zone !== zone) {
        ctx.target = zone;
        ctx.why = 'local-read';
        ctx.secondRead = config.secondRead && ctx.hop === 0;
      } else {
        ctx.target = ctx.owner.zone;
        ctx.why = 'owner';
      }
      return next();
    };
  },
};
