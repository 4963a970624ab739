/**
 * The log unreachable mid-stream: replication over JetStream through a TCP proxy that is cut
 * for a while and healed. The writing zone keeps acknowledging writes; after healing every
 * destination applies every one of them, in order, with anti-entropy off (so nothing the log
 * dropped could be repaired behind its back).
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
import { startTcpProxy } from '../../support/tcp-proxy.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { until } from './log.contract.ts';

test('replication (SQLite + JetStream): NATS cut off mid-stream and back — every acknowledged write reaches every zone, in order', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const [host, port] = natsUrl().split(':');
  const proxy = await startTcpProxy({ host: host!, port: Number(port) });
  const prefix = `MZF${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const dir = mkdtempSync(join(tmpdir(), 'mz-natsfault-'));
  const stores = new Map<string, Store>();
  for (const zone of ZONES)
    stores.set(
      zone,
      new SqliteStore({ zone, topology, fence, policies, clock: systemClock, file: join(dir, `${zone}.db`) }),
    );
  const log = await JetStreamLog.connect({ servers: `127.0.0.1:${proxy.port}`, prefix, clock: systemClock });
  // per destination: the (from, to) of each batch of sh-a it applied, in apply order
  const applied = new Map<string, [number, number][]>(ZONES.map((z) => [z, []]));
  let gaps = 0;
  const repl = new Replication({
    topology,
    stores,
    log,
    clock: systemClock,
    antiEntropyMs: 0,
    pollMs: 20,
    pruneMs: 0,
    events: {
      applied: (origin, dest, b) => {
        if (origin === 'sh-a') applied.get(dest)!.push([b.from, b.to]);
      },
      gap: () => void gaps++,
    },
  });
  t.after(async () => {
    await repl.stop();
    await log.close();
    const clean = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock });
    await clean.deleteStreams([...ZONES]);
    await clean.close();
    for (const s of stores.values()) await s.close();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await repl.start();
  const writer = stores.get('sh-a')!;
  const shards = topology
    .initialOwners()
    .map((z, s) => (z === 'sh-a' ? s : -1))
    .filter((s) => s >= 0);
  const keys: string[] = [];
  let last = 0;
  let cutAt = 0;
  for (let i = 0; i < 300; i++) {
    if (i === 100) proxy.cut();
    if (i === 200) {
      // the cut held replication back (else this test would prove nothing)
      assert.ok((await stores.get('gz-a')!.cursor('sh-a')) < cutAt + 50, 'gz-a kept applying through the cut');
      proxy.heal();
    }
    const key = `nf-${i}`;
    const shard = shards[fnv1a(key) % shards.length]!;
    // acknowledged locally whatever the log's state: the zone is up, only its link is not
    const r = await writer.put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value: { i } });
    repl.notify('sh-a');
    keys.push(key);
    last = r.seq;
    if (i === 100) cutAt = r.seq;
    // the cut lasts a while: long enough for the NATS client to notice and reconnect
    await systemClock.sleep(i >= 100 && i < 200 ? 15 : 2);
  }
  for (const dest of ZONES.filter((z) => z !== 'sh-a')) {
    const store = stores.get(dest)!;
    await until(async () => (await store.cursor('sh-a')) >= last, `${dest} applying up to ${last}`);
    for (const key of keys) {
      const rec = await store.get('profiles', key);
      assert.ok(rec && !rec.deleted, `${dest} lacks ${key}`);
    }
    // batches applied back to back: each starts right after the last one (never beyond it)
    const seen = applied.get(dest)!;
    for (let i = 1; i < seen.length; i++)
      assert.ok(seen[i]![0] <= seen[i - 1]![1] + 1, `${dest} applied ${seen[i]} after ${seen[i - 1]}`);
  }
  assert.equal(gaps, 0);
});
