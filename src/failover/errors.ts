import { defineErrors } from '../core/errors.ts';

/** Error codes of the failover controller (the control Kv's live in shardmap/errors.ts, the drill's in drill/errors.ts). */
export const failoverErrors = defineErrors({
  ERR_FAILOVER_UNKNOWN_ZONE: 'a failover, failback or drill request names a zone the topology does not have',
  ERR_FAILOVER_NO_BACKUP: 'a zone has no live backup zone to take its shards',
  ERR_FAILOVER_LAG_TIMEOUT:
    'a planned failover gave up waiting for replication lag to reach zero or for the zone to stop writing',
  ERR_FAILOVER_NOT_LEADER:
    'a planned failover or failback reached a process that does not lead the control plane, and no leader could take it',
  ERR_FAILOVER_NOT_READY: 'a failback was asked for a zone that is not up or does not hold a lease',
});
