import type { Clock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import { processUrl, type Topology } from '../topology/index.ts';
import { shardmapErrors } from './errors.ts';
import { EtcdKv } from './kv/etcd-kv.ts';
import type { Kv } from './kv/kv.ts';
import { MemoryKv } from './kv/memory-kv.ts';
import { NatsKv } from './kv/nats-kv.ts';
import { ShardMap } from './shard-map.ts';

/**
 * The control Kv the topology asks for (`failover.kv`): in memory, a NATS JetStream KV bucket, or etcd.
 * The process opens one Kv for all its `zones` (default: every zone of the topology), so
 * `{zone}` in `failover.kv.url` names the zone only when it runs exactly one
 * (ERR_CONFIG_INVALID otherwise, thrown before anything connects). A Kv server that does not
 * answer is reported with the setting's file:line.
 */
export async function openControlKv(topology: Topology, zones?: readonly string[]): Promise<Kv> {
  const cfg = topology.config.failover.kv;
  if (cfg.type === 'memory') return new MemoryKv();
  const url = processUrl(topology, ['failover', 'kv', 'url'], 'the control Kv', zones);
  try {
    return cfg.type === 'etcd'
      ? await EtcdKv.open({ url, bucket: cfg.bucket })
      : await NatsKv.open({ url, bucket: cfg.bucket, replicas: cfg.replicas });
  } catch (e) {
    if (!hasCode(e, shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE)) throw e;
    throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(
      `${topology.where(['failover', 'kv', 'url'])}: failover.kv.url: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** The cluster's authoritative shard map, seeded with the topology's home owners on first start. */
export async function openShardMap(kv: Kv, topology: Topology, clock: Clock): Promise<ShardMap> {
  const map = await new ShardMap(kv, topology.config.shards.count, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  return map;
}
