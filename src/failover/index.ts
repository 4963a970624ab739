/** Failover: the shard map with leases and epochs, the Kv it lives in, the controller, the drill. See README.md. */

export { type AuditEntry, AuditLog } from './audit.ts';
export {
  type ControllerOptions,
  FailoverController,
  type HealthVerdicts,
  type ReplicationHook,
  type ZoneState,
} from './controller.ts';
export { type DrillOptions, type DrillProgress, type DrillReport, runDrill } from './drill.ts';
export { failoverErrors } from './errors.ts';
export { ZoneFaults } from './faults.ts';
export type { Kv, KvEntry, KvPutOptions, KvWatch } from './kv/kv.ts';
export { MemoryKv } from './kv/memory-kv.ts';
export { NatsKv, type NatsKvOptions } from './kv/nats-kv.ts';
export { PartitionableKv } from './kv/partitionable-kv.ts';
export { LeaseKeeper } from './lease.ts';
export { planGlobal, planMoves } from './placement.ts';
export {
  type FenceApi,
  GLOBAL,
  type LeaseRecord,
  type LocalLease,
  leaseKey,
  mapKey,
  type ShardChange,
  type ShardId,
  ShardMap,
  type ShardOwner,
  shardForKey,
} from './shard-map.ts';
