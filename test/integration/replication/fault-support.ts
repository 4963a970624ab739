/** What the replication fault tests share: writes into a zone's own shards, and a watch on apply order. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { systemClock } from '../../../src/core/clock.ts';
import type { Logger } from '../../../src/core/logger.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { Replication, type ReplicatorEvents } from '../../../src/replication/index.ts';
import type { ReplicationOptions } from '../../../src/replication/replication.ts';
import { type MemoryFence, resourcePolicies, SqliteStore, type Store } from '../../../src/store/index.ts';
import type { Topology } from '../../../src/topology/index.ts';
import { ZONES } from './cluster.ts';

/** A stream prefix of its own (`tag` + random), so runs never share streams. */
export function uniquePrefix(tag: string): string {
  return `${tag}${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
}

/**
 * Replication as the fault tests run it: anti-entropy off (nothing the log dropped can be
 * repaired behind its back), quick polls, no pruning.
 */
export function faultReplication(
  opts: Pick<ReplicationOptions, 'topology' | 'stores' | 'log' | 'events' | 'logger'>,
): Replication {
  return new Replication({ ...opts, clock: systemClock, antiEntropyMs: 0, pollMs: 20, pruneMs: 0 });
}

/** A logger that keeps what an operator reads: `warn MESSAGE` and `info MESSAGE` lines. */
export function lineLogger(lines: string[]): Logger {
  return {
    warn: (_o: unknown, msg: string) => void lines.push(`warn ${msg}`),
    info: (_o: unknown, msg: string) => void lines.push(`info ${msg}`),
    debug: () => {},
  } as unknown as Logger;
}

/** A SQLite store per zone of ZONES, `<dir>/<zone>.db`, on the system clock. */
export function sqliteZones(dir: string, topology: Topology, fence: MemoryFence): Map<string, Store> {
  const policies = resourcePolicies(topology, fence);
  return new Map(
    ZONES.map((zone) => [
      zone,
      new SqliteStore({ zone, topology, fence, policies, clock: systemClock, file: join(dir, `${zone}.db`) }),
    ]),
  );
}

/**
 * `write(i)` puts `profiles/<prefix>-<i>` = {i} into one of `zone`'s own shards at the current
 * epoch and returns its seq; `after` runs after each (e.g. notify the replicator).
 */
export function zoneWriter(
  store: Store,
  topology: Topology,
  fence: MemoryFence,
  prefix: string,
  after?: () => void,
): (i: number) => Promise<number> {
  const shards = topology
    .initialOwners()
    .map((z, s) => (z === store.zone ? s : -1))
    .filter((s) => s >= 0);
  return async (i) => {
    const key = `${prefix}-${i}`;
    const shard = shards[fnv1a(key) % shards.length]!;
    const r = await store.put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value: { i } });
    after?.();
    return r.seq;
  };
}

/**
 * Replicator events that record, per destination, the (from, to) of each batch of `origin`
 * it applied, in apply order, and count gaps; `assertInOrder(dest)` checks that each batch
 * started right after the one before (never beyond it) and that no gap was seen anywhere.
 */
export function orderWatch(origin = 'sh-a'): { events: ReplicatorEvents; assertInOrder(dest: string): void } {
  const applied = new Map<string, [number, number][]>();
  let gaps = 0;
  return {
    events: {
      applied: (o, dest, b) => {
        if (o !== origin) return;
        if (!applied.has(dest)) applied.set(dest, []);
        applied.get(dest)!.push([b.from, b.to]);
      },
      gap: () => void gaps++,
    },
    assertInOrder(dest) {
      const seen = applied.get(dest) ?? [];
      assert.ok(seen.length > 0, `${dest} applied nothing of ${origin}`);
      for (let i = 1; i < seen.length; i++)
        assert.ok(seen[i]![0] <= seen[i - 1]![1] + 1, `${dest} applied ${seen[i]} after ${seen[i - 1]}`);
      assert.equal(gaps, 0, 'batches arrived after missing ones');
    },
  };
}
