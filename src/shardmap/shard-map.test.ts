import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { ZoneFaults } from './faults.ts';
import type { KvEntry } from './kv/kv.ts';
import { MemoryKv } from './kv/memory-kv.ts';
import { PartitionableKv } from './kv/partitionable-kv.ts';
import { LeaseKeeper } from './lease.ts';
import { ShardMapMirror } from './mirror.ts';
import { GLOBAL, ShardMap, shardForKey } from './shard-map.ts';
import { openZoneView } from './zone-view.ts';

const tick = () => new Promise((r) => setImmediate(r));

async function setup() {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 4, clock).start();
  await map.init(['a', 'a', 'b', 'b'], 'a');
  return { clock, kv, map };
}

test('failover/shard-map: init creates epoch-1 owners once; a second init changes nothing', async () => {
  const { kv, map, clock } = await setup();
  assert.deepEqual(map.owner(0), {
    zone: 'a',
    epoch: 1,
    notBefore: 0,
    draining: false,
    revision: map.entry(0).revision,
  });
  assert.equal(map.owner(GLOBAL).zone, 'a');
  await map.move(0, 'b');
  const again = await new ShardMap(kv, 4, clock).start();
  await again.init(['x', 'x', 'x', 'x'], 'x');
  assert.equal(again.owner(0).zone, 'b');
  assert.equal(again.owner(0).epoch, 2);
  assert.equal(again.owner(1).zone, 'a');
});

test('failover/shard-map: canWrite needs owner, epoch, no drain, notBefore passed (fenced) and a lease', async () => {
  const { clock, kv, map } = await setup();
  const lease = {
    zone: 'a',
    ok: true,
    valid() {
      return this.ok;
    },
    remainingMs() {
      return this.ok ? 1000 : -1;
    },
  };
  map.attachLease(lease);
  assert.equal(map.canWrite('a', 0, 1), true);
  assert.equal(map.canWrite('b', 0, 1), false, 'not the owner');
  assert.equal(map.canWrite('a', 0, 2), false, 'wrong epoch');
  lease.ok = false;
  assert.equal(map.canWrite('a', 0, 1), false, 'lease lapsed');
  lease.ok = true;
  await map.setDraining(0, true);
  assert.equal(map.canWrite('a', 0, 1), false, 'draining');
  await map.setDraining(0, false);
  await map.move(1, 'a', { notBefore: clock.wallTime() + 500 });
  assert.equal(map.canWrite('a', 1, 2), false, 'fenced until the old lease is over');
  assert.equal(map.canWrite('a', 1, 2, 'available'), true, 'available moves at once');
  clock.advance(500);
  assert.equal(map.canWrite('a', 1, 2), true);
  // without a local keeper, the Kv lease record decides
  assert.equal(map.canWrite('b', 2, 1), false);
  await kv.put('lease.b', JSON.stringify({ zone: 'b', expiresAt: clock.wallTime() + 100 }));
  await tick();
  assert.equal(map.canWrite('b', 2, 1), true);
  clock.advance(100);
  assert.equal(map.canWrite('b', 2, 1), false);
});

test('shard-map mirror: a copy routes and fences as the map does; its lease lapses when copies stop', async () => {
  const { clock, kv, map } = await setup();
  const keeper = new LeaseKeeper({ kv, zone: 'a', clock, leaseMs: 1000, renewMs: 300 });
  await keeper.start();
  map.attachLease(keeper);
  const copy = new ShardMapMirror(clock);
  assert.equal(copy.ready(), false, 'nothing copied yet');
  assert.throws(() => copy.entry(0), /no owner known/);
  copy.restore(map.mirror());
  assert.equal(copy.ready(), true);
  assert.deepEqual(copy.entry(0), map.entry(0));
  assert.equal(copy.entry(GLOBAL).zone, 'a');
  assert.equal(copy.canWrite('a', 0, 1), true);
  assert.equal(copy.canWrite('a', 0, 2), false, 'wrong epoch');
  assert.equal(copy.canWrite('b', 2, 1), false, 'b holds no lease');
  // a move reaches a waiting copy with the next copy sent
  const waited = copy.waitForEpoch(0, 2, 5000);
  await map.move(0, 'b', { notBefore: clock.wallTime() + 200 });
  await tick();
  copy.restore(map.mirror());
  assert.equal(await waited, true);
  assert.equal(copy.entry(0).zone, 'b');
  assert.equal(copy.canWrite('a', 0, 1), false, 'the old owner is fenced');
  // an older copy arriving late does not take the owners back
  const stale = { ...map.mirror(), revision: 0, shards: [null, null, null, null] };
  copy.restore(stale);
  assert.equal(copy.entry(0).zone, 'b');
  // no copy for longer than the keeper's lease: the copy's lease lapses with it
  keeper.stop();
  clock.advance(999);
  assert.equal(keeper.valid(), true);
  assert.equal(copy.canWrite('a', 1, 1), true);
  clock.advance(1);
  assert.equal(keeper.valid(), false);
  assert.equal(copy.canWrite('a', 1, 1), false, 'lapsed on the keeper’s expiry');
  assert.equal(await copy.waitForEpoch(1, 9, 0), false);
});

test('failover/shard-map: moves are compare-and-set and watchers see them in order', async () => {
  const { clock, kv, map } = await setup();
  const other = await new ShardMap(kv, 4, clock).start();
  const seen: string[] = [];
  other.watch((c) => seen.push(`${c.shard}:${c.owner.zone}@${c.owner.epoch}`));
  await map.move(2, 'a');
  await map.move(2, 'b');
  await tick();
  assert.deepEqual(seen, ['2:a@2', '2:b@3']);
  assert.equal(other.owner(2).epoch, 3);
  // a writer holding an old revision loses
  const stale = other.entry(2).revision;
  await map.move(2, 'a');
  await assert.rejects(kv.put('map.2', '{}', { expect: stale }), { code: 'ERR_FAILOVER_KV_CONFLICT' });
});

test('failover/shard-map: waitForEpoch resolves on the watch, or false after the wait', async () => {
  const { clock, kv, map } = await setup();
  const view = await new ShardMap(kv, 4, clock).start();
  const p = view.waitForEpoch(3, 2, 1000);
  await map.move(3, 'a');
  assert.equal(await p, true);
  const q = view.waitForEpoch(3, 9, 1000);
  clock.advance(1000);
  assert.equal(await q, false);
});

test('failover/shard-map: a partitioned view keeps its stale picture; healing catches it up', async () => {
  const { clock, kv, map } = await setup();
  const pk = new PartitionableKv(kv, 'b');
  const view = await new ShardMap(pk, 4, clock).start();
  pk.setIsolated(true);
  await map.move(0, 'b');
  await tick();
  assert.equal(view.owner(0).epoch, 1);
  pk.setIsolated(false);
  for (let i = 0; i < 20 && view.owner(0).epoch !== 2; i++) await tick();
  assert.equal(view.owner(0).zone, 'b');
});

test('failover/lease: a keeper renews while it reaches the Kv and lapses when cut off', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const pk = new PartitionableKv(kv, 'a');
  const keeper = new LeaseKeeper({ kv: pk, zone: 'a', clock, leaseMs: 1000, renewMs: 250 });
  await keeper.start();
  assert.equal(keeper.valid(), true);
  await clock.advanceAsync(2000, 50);
  assert.equal(keeper.valid(), true, 'renewed');
  pk.setIsolated(true);
  await clock.advanceAsync(900, 50);
  assert.equal(keeper.valid(), true, 'still within the last lease');
  await clock.advanceAsync(200, 50);
  assert.equal(keeper.valid(), false, 'lapsed');
  const rec = JSON.parse((await kv.get('lease.a'))!.value!) as { expiresAt: number };
  assert.ok(rec.expiresAt <= clock.wallTime(), 'the record others see has lapsed too');
  pk.setIsolated(false);
  await clock.advanceAsync(300, 50);
  assert.equal(keeper.valid(), true);
  keeper.stop();
});

test('failover/lease: after a Kv that swallowed puts answers again, the lease is back within a renewal, not a request timeout', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  // a leaderless NATS stream: a put is neither applied nor refused until its 2 s request timeout
  let swallowing = false;
  let reconnects = 0;
  const hanging = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'reconnect') return async () => void reconnects++;
      if (prop === 'put' || prop === 'get')
        return (...args: unknown[]) =>
          swallowing
            ? clock.sleep(2000).then(() => Promise.reject(new Error('TIMEOUT')))
            : (Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      return Reflect.get(target, prop, receiver);
    },
  });
  const keeper = new LeaseKeeper({ kv: hanging, zone: 'a', clock, leaseMs: 1000, renewMs: 250 });
  await keeper.start();
  swallowing = true;
  await clock.advanceAsync(1500, 50);
  assert.equal(keeper.valid(), false, 'lapsed while the Kv swallowed renewals');
  // an unanswered renewal asks the Kv to reconnect elsewhere, at most once a lease
  assert.equal(reconnects, 2);
  swallowing = false;
  await clock.advanceAsync(300, 50);
  assert.equal(keeper.valid(), true, 'renewed within one renewMs of the Kv answering');
  keeper.stop();
});

test('failover/lease: a renewal given up while its read hung never writes an expiry older than the keeper trusts', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  // the first read of the lease hangs 1.5 s (a leaderless stream), then answers the revision of that moment
  let hangNext = true;
  const slow = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'get')
        return async (key: string) => {
          if (hangNext) {
            hangNext = false;
            await clock.sleep(1500);
          }
          return target.get(key);
        };
      return Reflect.get(target, prop, receiver);
    },
  });
  const keeper = new LeaseKeeper({ kv: slow, zone: 'a', clock, leaseMs: 1000, renewMs: 250 });
  void keeper.start();
  for (let t = 0; t < 3000; t += 50) {
    await clock.advanceAsync(50, 50);
    const rec = await kv.get('lease.a');
    if (!rec?.value || !keeper.valid()) continue;
    const { expiresAt } = JSON.parse(rec.value) as { expiresAt: number };
    assert.ok(
      expiresAt >= clock.wallTime() + keeper.remainingMs() - 1,
      `at ${t} ms the Kv record expires at ${expiresAt}, before the keeper's own expiry ${clock.wallTime() + keeper.remainingMs()}`,
    );
  }
  keeper.stop();
});

test('failover/shard-map: shardForKey is fnv1a mod count; modulo hashes numeric keys directly', () => {
  assert.equal(shardForKey('123', 16, 'modulo'), 123 % 16);
  assert.equal(shardForKey('abc', 16, 'modulo'), shardForKey('abc', 16));
  assert.ok(shardForKey('alice', 1024) < 1024);
});

test('failover/zone-view: a watch that goes quiet while the Kv answers is noticed by the own lease and watched again', async () => {
  const { clock, kv, map } = await setup();
  // the NATS watch whose consumer sat on a cut-off server: events stop, puts and gets still work
  const stalled = new Set<number>();
  let ids = 0;
  let newWatchesStall = false;
  const quiet = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'watch')
        return (prefix: string, fn: (e: KvEntry) => void) => {
          const id = ids++;
          if (newWatchesStall) stalled.add(id);
          return target.watch(prefix, (e) => {
            if (!stalled.has(id)) fn(e);
          });
        };
      return Reflect.get(target, prop, receiver);
    },
  });
  const resyncs: string[] = [];
  const zv = await openZoneView({
    kv: quiet,
    zone: 'b',
    shards: 4,
    clock,
    leaseMs: 1000,
    renewMs: 250,
    faults: new ZoneFaults(),
    onResync: (why) => resyncs.push(why),
  });
  for (let i = 0; i < ids; i++) stalled.add(i);
  await map.move(0, 'b');
  await clock.advanceAsync(200, 50);
  assert.equal(zv.view.owner(0).zone, 'a', 'the stalled watch missed the move');
  await clock.advanceAsync(1500, 50);
  assert.equal(resyncs.length, 1, resyncs.join('; '));
  assert.match(resyncs[0]!, /acknowledged lease revision \d+/);
  assert.equal(zv.view.owner(0).zone, 'b', 'watched again: the move is seen');
  assert.equal(zv.view.owner(0).epoch, 2);
  // a Kv whose new watches stall too (no JetStream meta leader to place their consumers):
  // one resync per stall seen anew, not one per tick
  newWatchesStall = true;
  for (let i = 0; i < ids; i++) stalled.add(i);
  await clock.advanceAsync(3000, 50);
  const more = resyncs.length - 1;
  assert.ok(more >= 1 && more <= 3, `${more} resyncs in 3 s with renewals every 250 ms`);
  zv.stop();
});

test('failover/zone-view: a map watch that goes quiet is caught by the other zones reporting newer map revisions', async () => {
  const { clock, kv, map } = await setup();
  let quiet = true;
  const stalledMap = new Proxy(kv, {
    get(target, prop, receiver) {
      if (prop === 'watch')
        return (prefix: string, fn: (e: KvEntry) => void) =>
          target.watch(prefix, (e) => {
            if (prefix !== 'map.' || !quiet) fn(e);
          });
      return Reflect.get(target, prop, receiver);
    },
  });
  const resyncs: string[] = [];
  const common = { shards: 4, clock, leaseMs: 1000, renewMs: 250, faults: new ZoneFaults() };
  const b = await openZoneView({ ...common, kv: stalledMap, zone: 'b', onResync: (why) => resyncs.push(why) });
  const c = await openZoneView({ ...common, kv, zone: 'c' });
  await map.move(0, 'b');
  await clock.advanceAsync(500, 50);
  assert.equal(b.view.owner(0).zone, 'a', "b's map watch missed the move");
  quiet = false; // a new watch works (the resync's)
  await clock.advanceAsync(1500, 50);
  assert.equal(resyncs.length, 1, resyncs.join('; '));
  assert.match(resyncs[0]!, /other zones applied map revision \d+/);
  assert.equal(b.view.owner(0).zone, 'b');
  b.stop();
  c.stop();
});
