/** Replication between zones: log, shipping, exactly-once apply, conflicts, anti-entropy, compensation, causal IDs. See README.md. */

export { type AntiEntropyResult, antiEntropyPass, type DigestPeer } from './anti-entropy.ts';
export { CausalClock, CausalFeed, type CausalId, causalText, compareCausal, type FeedItem } from './causal.ts';
export {
  type CompensationReport,
  type CompensationStatus,
  compensationStatus,
  fateOf,
  measureCompensation,
  type PendingWrite,
  type RpoSnapshot,
  rpoAtFailure,
  type WriteFate,
} from './compensation.ts';
export { replicationErrors } from './errors.ts';
export { JetStreamLog, type JetStreamLogOptions, pages } from './jetstream-log.ts';
export type { Applied, BatchHandler, Log, LogBatch, LogSubscription } from './log.ts';
export { MemoryLog, type MemoryLogOptions, type WanOptions } from './memory-log.ts';
export { openLog } from './open-log.ts';
export {
  type ClusterConflict,
  Replication,
  type ReplicationOptions,
  type ResolveAllRequest,
  type ResolveAllResult,
  type SkippedConflict,
  type ZoneLag,
} from './replication.ts';
export { registerReplicationRoutes } from './routes.ts';
export type { LinkLag, ReplicationCounters, ReplicationStats } from './stats.ts';
export { walLevelVerdict } from './tables/table-checks.ts';
export { registerTableMetrics } from './tables/table-metrics.ts';
export {
  type TableConflict,
  type TableLinkLag,
  TableReplication,
  type TableReplicationOptions,
  type TableSlotLag,
} from './tables/table-replication.ts';
export { LOCKED_SQLSTATE } from './tables/table-sql.ts';
export { type ZoneOutage, zoneOutage } from './zone-outage.ts';
export { type ReplicatorEvents, ZoneReplicator, type ZoneReplicatorOptions } from './zone-replicator.ts';
