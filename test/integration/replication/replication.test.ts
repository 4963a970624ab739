import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { type DigestPeer, Replication } from '../../../src/replication/index.ts';
import { resourcePolicies, SqliteStore } from '../../../src/store/index.ts';
import { makeCluster, ZONES } from './cluster.ts';

async function settle(clock: ManualClock, cond: () => Promise<boolean>, maxMs = 5000): Promise<void> {
  for (let t = 0; t < maxMs; t += 10) {
    if (await cond()) return;
    await clock.advanceAsync(10, 5);
  }
  assert.fail('cluster did not settle');
}

async function converged(c: Awaited<ReturnType<typeof makeCluster>>): Promise<boolean> {
  const ds = await Promise.all(ZONES.map((z) => c.stores.get(z)!.digests()));
  const first = JSON.stringify([...ds[0]!.entries()].sort());
  return ds.every((d) => JSON.stringify([...d.entries()].sort()) === first);
}

test('replication: writes in every zone reach the three others exactly once, and nothing loops back', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(11), wan: { delayMs: 30, jitterMs: 10 } });
  try {
    const written: string[] = [];
    for (let i = 0; i < 60; i++) {
      await c.write(`user-${i}`, { i });
      written.push(`user-${i}`);
      if (i % 5 === 0) await clock.advanceAsync(3, 1);
    }
    const own = new Map<string, number>();
    for (const z of ZONES) own.set(z, await c.stores.get(z)!.lastSeq());
    await settle(clock, async () => (await c.repl.links()).every((l) => l.records === 0));
    for (const z of ZONES) {
      // applied changes never enter the applying zone's own change log
      assert.equal(await c.stores.get(z)!.lastSeq(), own.get(z));
      for (const k of written)
        assert.deepEqual((await c.stores.get(z)!.get('profiles', k))?.value, { i: Number(k.slice(5)) });
      for (const o of ZONES) if (o !== z) assert.equal(await c.stores.get(z)!.cursor(o), own.get(o));
    }
    assert.equal(c.repl.counters.applied, 60 * 3);
    assert.ok(await converged(c));
    const lag = await c.repl.lagOf('sh-a');
    assert.deepEqual(
      { records: lag.records, seconds: lag.seconds, down: lag.down },
      { records: 0, seconds: 0, down: [] },
    );
    assert.deepEqual(lag.links.map((l) => l.dest).sort(), ['bj-a', 'gz-a', 'sh-b']);
    assert.equal(await c.repl.lagFor('sh-a'), 0);
    const text = await c.metrics.metrics();
    assert.match(text, /mz_replication_lag_records\{origin="sh-a",dest="gz-a"\} 0/);
    assert.match(text, /mz_replication_applied_changes_total 180/);
  } finally {
    await c.close();
  }
});

test('replication: lag per link counts unapplied records and their age while a link is cut', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(2) });
  try {
    c.log.cut('sh-a', 'gz-a');
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'].filter((k) => c.fence.owner(c.shardOf(k)) === 'sh-a');
    assert.ok(keys.length > 0);
    for (const k of keys) await c.write(k, 1, 'sh-a');
    await clock.advanceAsync(2000, 20);
    const l = await c.repl.lag('sh-a', 'gz-a');
    assert.equal(l.records, keys.length);
    assert.ok(l.seconds >= 1.9);
    assert.equal((await c.repl.lag('sh-a', 'bj-a')).records, 0);
    assert.equal(await c.repl.lagFor('sh-a'), keys.length);
    c.log.heal('sh-a', 'gz-a');
    await settle(clock, async () => (await c.repl.lagFor('sh-a')) === 0);
  } finally {
    await c.close();
  }
});

test('replication: lag is per link; a dead zone is reported as down and does not inflate the live figure', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(4) });
  try {
    const keys = Array.from({ length: 40 }, (_, i) => `d${i}`).filter((k) => c.fence.owner(c.shardOf(k)) === 'sh-a');
    await settle(clock, async () => (await c.repl.lagFor('sh-a')) === 0);
    // gz-a dies: it applies nothing more, while sh-a keeps writing and the two live zones keep up
    c.log.isolate('gz-a', ZONES);
    await c.repl.stopZone('gz-a');
    for (const k of keys) await c.write(k, 1, 'sh-a');
    await settle(clock, async () => (await c.repl.lag('sh-a', 'bj-a')).records === 0);
    const lag = await c.repl.lagOf('sh-a');
    assert.equal(lag.records, 0);
    assert.equal(await c.repl.lagFor('sh-a'), 0);
    assert.deepEqual(lag.down, ['gz-a']);
    const dead = lag.links.find((l) => l.dest === 'gz-a')!;
    assert.equal(dead.down, true);
    assert.equal(dead.records, keys.length);
    assert.ok(lag.links.filter((l) => l.dest !== 'gz-a').every((l) => !l.down && l.records === 0));
    assert.match(await c.metrics.metrics(), /mz_replication_link_up\{origin="sh-a",dest="gz-a"\} 0/);
    // a zone in another process is declared down by the health plane the same way
    c.repl.setZoneUp('bj-a', false);
    assert.equal((await c.repl.lag('sh-a', 'bj-a')).down, true);
    c.repl.setZoneUp('bj-a', true);
    // back: its backlog counts again until it has caught up
    c.log.rejoin('gz-a', ZONES);
    await c.repl.startZone('gz-a');
    assert.equal((await c.repl.lagOf('sh-a')).down.length, 0);
    await settle(clock, async () => (await c.repl.lagFor('sh-a')) === 0);
  } finally {
    await c.close();
  }
});

test('replication: a restarted zone resumes from its durable cursors and shipped position', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(5), wan: { delayMs: 20 } });
  try {
    for (let i = 0; i < 20; i++) await c.write(`r${i}`, i);
    await clock.advanceAsync(10, 2);
    // "crash" bj-a mid-stream: stop its replication and reopen its store from the file
    await c.repl.stopZone('bj-a');
    const old = c.stores.get('bj-a')! as SqliteStore;
    await old.close();
    for (let i = 20; i < 40; i++) {
      const k = `r${i}`;
      if (c.fence.owner(c.shardOf(k)) !== 'bj-a') await c.write(k, i);
    }
    const reopened = new SqliteStore({
      zone: 'bj-a',
      topology: c.topology,
      fence: c.fence,
      policies: resourcePolicies(c.topology, c.fence),
      clock,
      file: `${c.dir}/bj-a.db`,
    });
    c.stores.set('bj-a', reopened);
    const repl2 = new Replication({ topology: c.topology, stores: new Map([['bj-a', reopened]]), log: c.log, clock });
    await repl2.start();
    await settle(clock, async () => {
      for (const o of ['sh-a', 'sh-b', 'gz-a'])
        if ((await reopened.cursor(o)) !== (await c.stores.get(o)!.lastSeq())) return false;
      return true;
    });
    for (let i = 0; i < 40; i++) {
      const k = `r${i}`;
      const owner = c.fence.owner(c.shardOf(k));
      if (i >= 20 && owner === 'bj-a') continue;
      assert.equal((await reopened.get('profiles', k))?.value, i, k);
    }
    await repl2.stop();
  } finally {
    await c.close();
  }
});

test('replication: concurrent writes from two zones lock the record everywhere until resolved', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(9), wan: { delayMs: 15 } });
  try {
    const key = 'contested';
    const shard = c.shardOf(key);
    const owner = c.fence.owner(shard);
    const other = ZONES.find((z) => z !== owner)!;
    await c.write(key, 'v1');
    await settle(clock, async () => (await c.repl.lagFor(owner)) === 0);
    // the owner is cut off with an unshipped write; its shard moves (available mode) and the new owner writes too
    c.log.isolate(owner, ZONES);
    await c.write(key, 'from-old-owner', owner);
    c.fence.move(shard, other);
    await c.write(key, 'from-new-owner', other);
    c.log.rejoin(owner, ZONES);
    await settle(clock, async () => (await c.repl.links()).every((l) => l.records === 0));
    for (const z of ZONES) {
      const r = await c.stores.get(z)!.get('profiles', key);
      assert.equal(r?.locked, true, z);
      await assert.rejects(
        c.stores.get(other)!.put({ resource: 'profiles', key, shard, epoch: c.fence.epoch(shard), value: 'x' }),
        { code: 'ERR_STORE_LOCKED' },
      );
    }
    const list = await c.repl.conflicts();
    assert.deepEqual(
      list.map((x) => [x.id, x.zones.length, x.candidates.map((k) => k.origin).sort()]),
      [[`profiles/${key}`, 4, [owner, other].sort()]],
    );
    const r = await c.repl.resolve(`profiles/${key}`, other);
    assert.equal(r.zone, list[0]!.zones[0]);
    await settle(clock, async () => (await c.repl.conflicts()).length === 0);
    for (const z of ZONES) assert.equal((await c.stores.get(z)!.get('profiles', key))?.value, 'from-new-owner');
    assert.ok(await converged(c));
  } finally {
    await c.close();
  }
});

test('replication: anti-entropy repairs what a lossy log dropped', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(4), wan: { delayMs: 5, loss: 0.4 } });
  try {
    for (let i = 0; i < 80; i++) {
      await c.write(`lossy-${i}`, i);
      await clock.advanceAsync(2, 1);
    }
    await clock.advanceAsync(500, 10);
    assert.ok(c.log.dropped > 0);
    assert.equal(await converged(c), false);
    const r = await c.repl.antiEntropy();
    assert.ok(r.shards > 0);
    assert.ok(r.repaired > 0);
    assert.ok(await converged(c));
    for (const z of ZONES)
      for (let i = 0; i < 80; i++) assert.equal((await c.stores.get(z)!.get('profiles', `lossy-${i}`))?.value, i);
    assert.ok(c.repl.counters.gaps > 0);
    // a pass with nothing to repair reads each zone's digests once, though each zone is in three pairs
    const reads = new Map<string, number>();
    for (const [z, s] of c.stores) {
      const real = s.digests.bind(s);
      (s as DigestPeer).digests = () => {
        reads.set(z, (reads.get(z) ?? 0) + 1);
        return real();
      };
    }
    assert.equal((await c.repl.antiEntropy()).shards, 0);
    assert.deepEqual(Object.fromEntries(reads), Object.fromEntries(ZONES.map((z) => [z, 1])));
  } finally {
    await c.close();
  }
});

test('replication: a returning zone replays its unshipped writes; the drill report has RPO, WRT and 0 lost', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(21), wan: { delayMs: 40 } });
  try {
    const zone = 'gz-a';
    const keys = Array.from({ length: 40 }, (_, i) => `g${i}`).filter((k) => c.fence.owner(c.shardOf(k)) === zone);
    for (const k of keys) await c.write(k, 'before');
    await clock.advanceAsync(200, 10);
    // writes acknowledged just before the failure, still inside the WAN delay: the RPO window
    for (const k of keys) await c.write(k, 'acked-not-shipped');
    await clock.advanceAsync(5, 1);
    const snap = await c.repl.rpoAtFailure(zone);
    assert.equal(snap.count, keys.length);
    assert.ok(snap.windowMs >= 5);
    await c.repl.stopZone(zone);
    c.log.isolate(zone, ZONES);
    // failover: its shards move to sh-b, which overwrites half of the keys on top of the old version
    const backup = 'sh-b';
    c.fence.moveAll(zone, backup);
    const contested = keys.slice(0, Math.ceil(keys.length / 2));
    for (const k of contested) await c.write(k, 'written-by-backup');
    await clock.advanceAsync(300, 10);
    c.log.rejoin(zone, ZONES);
    await c.repl.startZone(zone);
    const returnedAt = clock.now();
    const pending = c.repl.compensation(snap, returnedAt, 10_000);
    let report: Awaited<typeof pending> | undefined;
    void pending.then((r) => {
      report = r;
    });
    for (let i = 0; i < 200 && !report; i++) await clock.advanceAsync(10, 5);
    assert.ok(report, 'compensation finished');
    assert.equal(report.lost, 0);
    assert.equal(report.locked, contested.length);
    assert.equal(report.applied, keys.length - contested.length);
    assert.equal(report.rpo.count, keys.length);
    assert.ok(report.wrtMs !== undefined && report.wrtMs >= 40);
  } finally {
    await c.close();
  }
});

test('replication: the change log is pruned behind what every zone applied, and replication carries on', async () => {
  const clock = new ManualClock();
  const c = await makeCluster({ clock, random: seededRandom(8), keepChanges: 3 });
  try {
    for (let i = 0; i < 40; i++) await c.write(`p${i}`, i);
    await settle(clock, async () => (await c.repl.links()).every((l) => l.records === 0));
    const before = new Map<string, number>();
    for (const z of ZONES) before.set(z, await c.stores.get(z)!.lastSeq());
    c.log.cut('sh-a', 'gz-a');
    const held = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8'].filter((k) => c.fence.owner(c.shardOf(k)) === 'sh-a');
    for (const k of held) await c.write(k, 1);
    // prune's floor is the persisted shipped position, written at most every 100 ms
    await clock.advanceAsync(150, 5);
    assert.ok((await c.repl.prune()) > 0);
    for (const z of ZONES) {
      const log = await c.stores.get(z)!.changesAfter(0, 1000);
      // sh-a keeps everything gz-a still needs (plus 3); the others keep 3 (or their newest)
      if (z === 'sh-a') assert.equal(log[0]!.seq, Math.max(1, before.get(z)! - 3 + 1));
      else assert.ok(log.length <= 3 || log.length === 1, `${z} kept ${log.length}`);
      assert.equal(await c.stores.get(z)!.lastSeq(), before.get(z)! + (z === 'sh-a' ? held.length : 0));
    }
    c.log.heal('sh-a', 'gz-a');
    await settle(clock, async () => (await c.repl.links()).every((l) => l.records === 0));
    for (const k of held) assert.equal((await c.stores.get('gz-a')!.get('profiles', k))?.value, 1);
  } finally {
    await c.close();
  }
});
