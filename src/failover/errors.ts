import { defineErrors } from '../core/errors.ts';

/** Error codes of the shard map, leases, the failover controller and the drill. */
export const failoverErrors = defineErrors({
  ERR_FAILOVER_KV_CONFLICT: 'a compare-and-set write to the control Kv lost: the key changed since it was read',
  ERR_FAILOVER_KV_UNAVAILABLE: 'the control Kv (in-memory or NATS JetStream KV) could not be reached',
  ERR_FAILOVER_KV_BAD_KEY: 'a Kv key or watch prefix uses characters or a shape the adapters do not allow',
  ERR_FAILOVER_UNKNOWN_ZONE: 'a failover, failback or drill request names a zone the topology does not have',
  ERR_FAILOVER_NO_BACKUP: 'a zone has no live backup zone to take its shards',
  ERR_FAILOVER_LAG_TIMEOUT:
    'a planned failover gave up waiting for replication lag to reach zero or for the zone to stop writing',
  ERR_FAILOVER_NOT_READY: 'a failback was asked for a zone that is not up or does not hold a lease',
  ERR_FAILOVER_DRILL: 'the drill could not talk to the running cluster (control API or routers)',
});
