/** The shard map: owners and epochs, zone leases, the control Kv and its adapters, fault switches, routing headers. See README.md. */

export { shardmapErrors } from './errors.ts';
export { ZoneFaults } from './faults.ts';
export { HEADER_PREFIX, HEADERS } from './headers.ts';
export { EtcdKv, type EtcdKvOptions } from './kv/etcd-kv.ts';
export type { Kv, KvEntry, KvPutOptions, KvWatch } from './kv/kv.ts';
export { MemoryKv } from './kv/memory-kv.ts';
export { NatsKv, type NatsKvOptions } from './kv/nats-kv.ts';
export { PartitionableKv } from './kv/partitionable-kv.ts';
export {
  LEADER_KEY,
  LeaderElection,
  type LeaderElectionOptions,
  type LeaderRecord,
  type Leadership,
} from './leader.ts';
export { LeaseKeeper } from './lease.ts';
export { ShardMapMirror } from './mirror.ts';
export { openControlKv, openShardMap } from './open.ts';
export {
  type FenceApi,
  GLOBAL,
  type LeaseRecord,
  type LocalLease,
  leaseKey,
  type MapMirror,
  mapKey,
  type ShardChange,
  type ShardId,
  ShardMap,
  type ShardMapView,
  type ShardOwner,
  shardForKey,
} from './shard-map.ts';
export { openZoneView, watchForStalls, type ZoneView } from './zone-view.ts';
