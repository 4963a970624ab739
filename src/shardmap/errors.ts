import { defineErrors } from '../core/errors.ts';

/**
 * Error codes of the shard map and its control Kv. The Kv's shipped under the failover plane's
 * prefix before the shard map had a folder of its own, and a code never changes: they keep
 * `ERR_FAILOVER_`. Codes added since are `ERR_SHARDMAP_`.
 */
export const shardmapErrors = defineErrors({
  ERR_FAILOVER_KV_CONFLICT: 'a compare-and-set write to the control Kv lost: the key changed since it was read',
  ERR_FAILOVER_KV_UNAVAILABLE: 'the control Kv (in-memory or NATS JetStream KV) could not be reached',
  ERR_FAILOVER_KV_BAD_KEY: 'a Kv key or watch prefix uses characters or a shape the adapters do not allow',
  ERR_SHARDMAP_STALE_TERM:
    'a shard map write came from a control plane leader of an older term than the entry it would change (a deposed leader)',
});
