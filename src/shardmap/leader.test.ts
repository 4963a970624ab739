import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { MemoryKv } from './kv/memory-kv.ts';
import { PartitionableKv } from './kv/partitionable-kv.ts';
import { LEADER_KEY, LeaderElection } from './leader.ts';
import { ShardMap } from './shard-map.ts';

const LEASE = { leaseMs: 1000, renewMs: 250, skewMs: 100 };

function candidate(kv: MemoryKv | PartitionableKv, id: string, clock: ManualClock) {
  return new LeaderElection({ kv, id, zones: [id], clock, ...LEASE });
}

test('leader: the first candidate leads in term 1, the others follow; the holder renews', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const a = candidate(kv, 'a', clock);
  const b = candidate(kv, 'b', clock);
  await a.start();
  await b.start();
  assert.equal(a.isLeader(), true);
  assert.equal(a.term(), 1);
  assert.equal(b.isLeader(), false);
  assert.equal(b.current()?.holder, 'a');
  await clock.advanceAsync(5000, 50);
  assert.equal(a.isLeader(), true, 'renewals keep the lead');
  assert.equal(b.isLeader(), false);
  assert.equal(a.term(), 1);
  await a.stop();
  await b.stop();
});

test('leader: a leader cut off from the Kv stops leading before anybody takes over; the next term is one higher', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const ha = new PartitionableKv(kv, 'a');
  const a = candidate(ha, 'a', clock);
  const b = candidate(kv, 'b', clock);
  await a.start();
  await b.start();
  ha.setIsolated(true);
  let aStoppedAt: number | undefined;
  let bLedAt: number | undefined;
  for (let t = 0; t < 3000; t += 10) {
    await clock.advanceAsync(10, 10);
    assert.ok(!(a.isLeader() && b.isLeader()), `t=${clock.now()}: two leaders`);
    if (aStoppedAt === undefined && !a.isLeader()) aStoppedAt = clock.now();
    if (bLedAt === undefined && b.isLeader()) bLedAt = clock.now();
  }
  assert.ok(aStoppedAt !== undefined && bLedAt !== undefined, 'a stepped down and b took over');
  assert.ok(aStoppedAt <= bLedAt);
  assert.equal(b.term(), 2);
  // healed, the old leader follows: its term is gone
  ha.setIsolated(false);
  await clock.advanceAsync(1000, 50);
  assert.equal(a.isLeader(), false);
  assert.equal(b.isLeader(), true);
  await a.stop();
  await b.stop();
});

test('leader: a crash (no resignation) is taken over after the lease and the skew; a resignation at once', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const a = candidate(kv, 'a', clock);
  const b = candidate(kv, 'b', clock);
  await a.start();
  await b.start();
  await a.stop({ resign: false });
  await clock.advanceAsync(LEASE.leaseMs - 50, 10);
  assert.equal(b.isLeader(), false, 'the crashed leader’s lease still holds');
  await clock.advanceAsync(LEASE.skewMs + 50 + LEASE.renewMs, 10);
  assert.equal(b.isLeader(), true);
  assert.equal(b.term(), 2);
  const c = candidate(kv, 'c', clock);
  await c.start();
  assert.equal(c.isLeader(), false);
  await b.stop(); // resigns
  await c.campaign();
  assert.equal(c.isLeader(), true, 'took over right after the resignation');
  assert.equal(c.term(), 3, 'the term survives the resignation');
  assert.equal(JSON.parse((await kv.get(LEADER_KEY))!.value!).holder, 'c');
  await c.stop();
});

test('leader: a follower takes over a crashed leader right when its lease and the skew are out, not at its next round', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const a = candidate(kv, 'a', clock);
  await a.start(); // holds until t = 1000, free at 1100
  await clock.advanceAsync(10, 10);
  const b = candidate(kv, 'b', clock); // rounds at 260, 510, 760, 1010, 1260: none at 1100
  await b.start();
  await a.stop({ resign: false });
  await clock.advanceAsync(1090, 10); // t = 1100
  assert.equal(b.isLeader(), false, 'not before the lease and the skew are out');
  await clock.advanceAsync(20, 10); // t = 1120, before b's next round at 1260
  assert.equal(b.isLeader(), true, 'took over at once');
  assert.equal(b.term(), 2);
  await b.stop();
});

test('leader: a deposed leader’s shard map writes are refused by term (ERR_SHARDMAP_STALE_TERM)', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 4, clock).start();
  await map.init(['a', 'a', 'b', 'b'], 'a');
  await map.move(0, 'b', { term: 2 });
  await assert.rejects(map.move(0, 'a', { term: 1 }), { code: 'ERR_SHARDMAP_STALE_TERM' });
  await assert.rejects(map.setDraining(0, true, 1), { code: 'ERR_SHARDMAP_STALE_TERM' });
  assert.equal(map.owner(0).zone, 'b');
  assert.equal((await map.move(0, 'a', { term: 3 })).term, 3);
  // a write without a term (a single process, no election) keeps the entry's term
  assert.equal((await map.move(1, 'b')).term ?? 0, 0);
  map.stop();
});
