import { shardForKey } from '../../shardmap/index.ts';
import type { Stage } from '../types.ts';

/** shard = hash(key) mod count, unless a mapping or fence already gave it. */
export const shardStage: Stage = {
  name: 'shard',
  create(_config, { topology }) {
    const { count, hash } = topology.config.shards;
    return (ctx, next) => {
      if (ctx.shard === undefined && ctx.key !== undefined) ctx.shard = shardForKey(ctx.key, count, hash);
      return next();
    };
  },
};
