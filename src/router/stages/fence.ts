import { routerErrors } from '../errors.ts';
import type { Stage } from '../types.ts';

/**
 * The write fence before the local app: a non-safe request on a sharded (or global) shard
 * is served here only if this zone owns it at the current epoch, it is not draining, the
 * zone's lease is unexpired, and (for `fenced` resources) the old owner's lease is over.
 */
export const fenceStage: Stage = {
  name: 'fence',
  create(_config, { zone, map, reject }) {
    return (ctx, next) => {
      if (ctx.target !== zone || ctx.safe || ctx.owner === undefined || ctx.shard === undefined) return next();
      const consistency = ctx.resource?.consistency ?? 'fenced';
      if (map.canWrite(zone, ctx.shard, ctx.owner.epoch, consistency)) return next();
      ctx.res.setHeader('retry-after', '1');
      return reject(
        ctx,
        503,
        routerErrors.ERR_ROUTER_FENCED.code,
        `router: ${zone} may not write shard ${ctx.shard} at epoch ${ctx.owner.epoch} now`,
        {
          shard: ctx.shard,
          epoch: ctx.owner.epoch,
          draining: ctx.owner.draining,
        },
      );
    };
  },
};
