import type { Clock } from '../core/clock.ts';
import type { Topology } from '../topology/index.ts';
import type { Kv } from './kv/kv.ts';
import { MemoryKv } from './kv/memory-kv.ts';
import { NatsKv } from './kv/nats-kv.ts';
import { ShardMap } from './shard-map.ts';

/** The control Kv the topology asks for (`failover.kv`): in memory, or a NATS JetStream KV bucket. */
export function openControlKv(topology: Topology): Promise<Kv> {
  const cfg = topology.config.failover.kv;
  return cfg.type === 'nats' ? NatsKv.open({ url: cfg.url, bucket: cfg.bucket }) : Promise.resolve(new MemoryKv());
}

/** The cluster's authoritative shard map, seeded with the topology's home owners on first start. */
export async function openShardMap(kv: Kv, topology: Topology, clock: Clock): Promise<ShardMap> {
  const map = await new ShardMap(kv, topology.config.shards.count, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  return map;
}
