/**
 * A destination zone restarts while batches wait for it: its process (here: its own
 * Replication and NATS connection) stops with batches delivered to it but not applied, the
 * origin keeps writing, and it starts again. JetStream would hand it the newer batches first;
 * the log starts its consumer again after the last batch applied, so it applies every batch in
 * order, with no gap for anti-entropy (off here) to mend.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { JetStreamLog, Replication } from '../../../src/replication/index.ts';
import { MemoryFence, resourcePolicies, SqliteStore, type Store } from '../../../src/store/index.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { until } from './log.contract.ts';

test('replication (SQLite + JetStream): a destination restarted with batches waiting applies every one, in order, no gap', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const prefix = `MZJ${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const dir = mkdtempSync(join(tmpdir(), 'mz-jsrestart-'));
  const stores = new Map<string, Store>();
  for (const zone of ZONES)
    stores.set(
      zone,
      new SqliteStore({ zone, topology, fence, policies, clock: systemClock, file: join(dir, `${zone}.db`) }),
    );
  // gz-a applies slowly, so batches queue up in its subscription's buffer
  const gz = stores.get('gz-a')!;
  const slow = new Proxy(gz, {
    get(target, p) {
      if (p === 'apply')
        return async (...a: Parameters<Store['apply']>) => {
          await systemClock.sleep(15);
          return target.apply(...a);
        };
      const v = Reflect.get(target, p, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const applied: [number, number][] = [];
  let gaps = 0;
  const events = {
    applied: (origin: string, dest: string, b: { from: number; to: number }) => {
      if (origin === 'sh-a' && dest === 'gz-a') applied.push([b.from, b.to]);
    },
    gap: () => void gaps++,
  };
  const open = async (zones: string[], store?: (z: string) => Store) => {
    const log = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock });
    const repl = new Replication({
      topology,
      stores: new Map(zones.map((z) => [z, store?.(z) ?? stores.get(z)!])),
      log,
      clock: systemClock,
      antiEntropyMs: 0,
      pollMs: 20,
      pruneMs: 0,
      events,
    });
    await repl.start();
    return { repl, log };
  };
  const others = await open(['sh-a', 'sh-b', 'bj-a']);
  let dest = await open(['gz-a'], () => slow);
  t.after(async () => {
    for (const p of [others, dest]) {
      await p.repl.stop();
      await p.log.close();
    }
    await others.log.deleteStreams([...ZONES]);
    for (const s of stores.values()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const writer = stores.get('sh-a')!;
  const shards = topology
    .initialOwners()
    .map((z, s) => (z === 'sh-a' ? s : -1))
    .filter((s) => s >= 0);
  let last = 0;
  const write = async (i: number) => {
    const key = `jr-${i}`;
    const shard = shards[fnv1a(key) % shards.length]!;
    last = (await writer.put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value: { i } })).seq;
    others.repl.notify('sh-a');
  };
  // a batch each (a pause after every write): many batches queue up for gz-a
  for (let i = 0; i < 150; i++) {
    await write(i);
    await systemClock.sleep(2);
  }
  // it has applied some, and more wait for it
  await until(async () => (await gz.cursor('sh-a')) > 0, 'gz-a applying');
  assert.ok((await gz.cursor('sh-a')) < last, 'nothing was left waiting');
  await dest.repl.stop();
  await dest.log.close();
  for (let i = 150; i < 200; i++) await write(i);
  await systemClock.sleep(100);
  dest = await open(['gz-a']);
  await until(async () => (await gz.cursor('sh-a')) >= last, `gz-a applying up to ${last}`);
  assert.equal((await gz.list('profiles', 'jr-', 1000)).length, 200);
  for (let i = 1; i < applied.length; i++)
    assert.ok(applied[i]![0] <= applied[i - 1]![1] + 1, `gz-a applied ${applied[i]} after ${applied[i - 1]}`);
  assert.equal(gaps, 0);
});
