/** A four-zone replication cluster over SQLite stores and the in-process log, for tests and simulations. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../../src/core/clock.ts';
import { createMetrics, type Registry } from '../../../src/core/metrics.ts';
import type { Random } from '../../../src/core/random.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { MemoryLog, Replication, type WanOptions } from '../../../src/replication/index.ts';
import { MemoryFence, resourcePolicies, SqliteStore, type Store } from '../../../src/store/index.ts';
import type { Topology } from '../../../src/topology/index.ts';
import { storeTestTopology } from '../store/store.contract.ts';

export const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'] as const;

export interface TestCluster {
  topology: Topology;
  fence: MemoryFence;
  log: MemoryLog;
  stores: Map<string, Store>;
  repl: Replication;
  metrics: Registry;
  dir: string;
  /** Shard of a key (16 shards). */
  shardOf(key: string): number;
  /** Writes `profiles/key` in its owner zone at the current epoch. */
  write(key: string, value: unknown, zone?: string): Promise<{ zone: string; seq: number; vv: Record<string, number> }>;
  /** Stops replication, closes the stores and removes their files. */
  close(): Promise<void>;
}

export async function makeCluster(opts: {
  clock: Clock;
  random: Random;
  wan?: Partial<WanOptions>;
  antiEntropyMs?: number;
  pollMs?: number;
  keepChanges?: number;
}): Promise<TestCluster> {
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const dir = mkdtempSync(join(tmpdir(), 'mz-repl-'));
  const stores = new Map<string, Store>();
  for (const zone of ZONES)
    stores.set(
      zone,
      new SqliteStore({ zone, topology, fence, policies, clock: opts.clock, file: join(dir, `${zone}.db`) }),
    );
  const log = new MemoryLog({ clock: opts.clock, random: opts.random, wan: opts.wan });
  const metrics = createMetrics();
  const repl = new Replication({
    topology,
    stores,
    log,
    clock: opts.clock,
    metrics,
    antiEntropyMs: opts.antiEntropyMs ?? 0,
    pollMs: opts.pollMs ?? 20,
    keepChanges: opts.keepChanges,
    pruneMs: 0,
  });
  await repl.start();
  const shardOf = (key: string) => fnv1a(key) % topology.config.shards.count;
  return {
    topology,
    fence,
    log,
    stores,
    repl,
    metrics,
    dir,
    shardOf,
    async write(key, value, zone) {
      const shard = shardOf(key);
      const z = zone ?? fence.owner(shard);
      const r = await stores.get(z)!.put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value });
      repl.notify(z);
      return { zone: z, seq: r.seq, vv: { ...r.vv } };
    },
    async close() {
      await repl.stop();
      await log.close();
      for (const s of stores.values()) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
