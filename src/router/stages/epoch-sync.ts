import { GLOBAL, HEADERS } from '../../shardmap/index.ts';
import type { Stage } from '../types.ts';

/**
 * A forwarded request says which epoch the sender routed by. If that is newer than ours,
 * our map is behind: wait (bounded, usually one watch round-trip) for it to catch up, so we
 * route by the newer epoch. Also reads the hop counter.
 */
export const epochSyncStage: Stage = {
  name: 'epoch-sync',
  create(config, { map }) {
    return (ctx, next) => {
      const h = ctx.req.headers;
      const hop = h[HEADERS.hop];
      if (hop !== undefined) {
        const n = Number(hop);
        ctx.hop = Number.isInteger(n) && n >= 0 && n < 100 ? n : 100;
        const e = Number(h[HEADERS.epoch]);
        if (Number.isInteger(e) && e > 0) ctx.senderEpoch = e;
        const from = h[HEADERS.from];
        if (typeof from === 'string') ctx.fromZone = from;
      }
      if (ctx.senderEpoch !== undefined && map.ready()) {
        const shard = ctx.shard ?? (ctx.resource?.class === 'global' ? GLOBAL : undefined);
        if (shard !== undefined && map.entry(shard).epoch < ctx.senderEpoch)
          return map.waitForEpoch(shard, ctx.senderEpoch, config.epochWaitMs).then(next);
      }
      return next();
    };
  },
};
