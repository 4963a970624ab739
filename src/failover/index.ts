/** Failover: the shard map with leases and epochs, the Kv it lives in, the controller, the drill. See README.md. */
export { failoverErrors } from './errors.ts';
export type { Kv, KvEntry, KvPutOptions, KvWatch } from './kv/kv.ts';
export { MemoryKv } from './kv/memory-kv.ts';
export { NatsKv, type NatsKvOptions } from './kv/nats-kv.ts';
export { PartitionableKv } from './kv/partitionable-kv.ts';
