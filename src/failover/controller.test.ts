import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopology } from '../../test/support/net.ts';
import { ManualClock } from '../core/clock.ts';
import { GLOBAL, LEADER_KEY, LeaderElection, MemoryKv, PartitionableKv, ShardMap } from '../shardmap/index.ts';
import { AuditLog, declaredDown } from './audit.ts';
import { FailoverController, type HealthVerdicts } from './controller.ts';

const topology = testTopology({
  extra: `
shards: { count: 16 }
failover: { after: 500, leaseMs: 1000, renewMs: 200, skewMs: 100, verdicts: direct, check: { intervalMs: 100, timeoutMs: 100 } }
`,
});

async function setup(health?: HealthVerdicts) {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  const down = new Set<string>();
  const verdicts: string[] = [];
  const audit = new AuditLog(kv, clock);
  const c = new FailoverController({
    topology,
    map,
    audit,
    clock,
    config: health ? { ...topology.config.failover, verdicts: 'health' } : topology.config.failover,
    probe: async (z) => !down.has(z),
    health: () => health,
    onVerdict: (z, up) => verdicts.push(`${z}:${up ? 'up' : 'down'}`),
  });
  c.start();
  return { clock, kv, map, down, verdicts, audit, c };
}

/** sh-a's process campaigning for the control plane (lease 1000, renew 200, skew 100) and its controller; zones in `down` fail the probe. */
async function ledController(kv: MemoryKv, map: ShardMap, clock: ManualClock, down: ReadonlySet<string>) {
  const leader = new LeaderElection({
    kv,
    id: 'sh-a#1',
    zones: ['sh-a'],
    clock,
    leaseMs: 1000,
    renewMs: 200,
    skewMs: 100,
  });
  await leader.start();
  const c = new FailoverController({
    topology,
    map,
    audit: new AuditLog(kv, clock),
    clock,
    config: topology.config.failover,
    leader,
    probe: async (z) => !down.has(z),
  });
  c.start();
  return { leader, c };
}

test('failover/controller: a zone down for `after` loses its shards (epoch+1, notBefore = its lease end + skew)', async () => {
  const { clock, kv, map, down, verdicts, audit, c } = await setup();
  await kv.put('lease.sh-a', JSON.stringify({ zone: 'sh-a', expiresAt: clock.wallTime() + 800 }));
  const leaseEnd = clock.wallTime() + 800;
  down.add('sh-a');
  await clock.advanceAsync(400, 50);
  assert.equal(c.states()['sh-a']?.state, 'suspect');
  assert.equal(map.shardsOf('sh-a').length, 4, 'not before `after`');
  await clock.advanceAsync(400, 50);
  assert.equal(map.shardsOf('sh-a').length, 0);
  assert.equal(c.states()['sh-a']?.state, 'failed');
  for (let s = 0; s < 4; s++) {
    const o = map.entry(s);
    assert.equal(o.zone, 'sh-b', 'same-region backup first');
    assert.equal(o.epoch, 2);
    assert.equal(o.notBefore, leaseEnd + 100);
  }
  assert.equal(map.owner(GLOBAL).zone, 'sh-b');
  assert.deepEqual(verdicts, ['sh-a:down']);
  const moves = (await audit.list()).filter((e) => e.action === 'move');
  assert.equal(moves.length, 1);
  assert.equal(moves[0]?.shards?.length, 5);
  // the verdict before the moves says who declared it (no health plane here: the direct check) and what moves
  const verdict = (await audit.list()).find((e) => e.action === 'verdict' && e.zone === 'sh-a')!;
  assert.ok(verdict.seq < moves[0]!.seq);
  assert.equal(verdict.declaredBy, 'direct');
  assert.deepEqual(verdict.moves, { shards: 4, global: true, to: ['sh-b'], epoch: 2 });
  assert.equal(
    declaredDown(verdict),
    "sh-a declared down by the control plane's direct check; 4 shards and the global writer moved to sh-b at epoch 2",
  );
  down.delete('sh-a');
  await clock.advanceAsync(200, 50);
  assert.equal(c.states()['sh-a']?.state, 'recovered');
  assert.deepEqual(verdicts, ['sh-a:down', 'sh-a:up']);
  c.stop();
});

test('failover/controller: a blip shorter than `after` moves nothing', async () => {
  const { clock, map, down, c } = await setup();
  down.add('gz-a');
  await clock.advanceAsync(300, 50);
  down.delete('gz-a');
  await clock.advanceAsync(1000, 50);
  assert.equal(map.shardsOf('gz-a').length, 4);
  assert.equal(c.states()['gz-a']?.state, 'healthy');
  c.stop();
});

test('failover/controller: with verdicts: health, the health plane decides', async () => {
  const up = new Set(['sh-a', 'sh-b', 'bj-a', 'gz-a']);
  const { clock, map, down, audit, c } = await setup({
    zoneUp: (z) => up.has(z),
    zoneVotes: (z) => (up.has(z) ? { down: [], counted: 4 } : { down: ['sh-a', 'sh-b', 'gz-a'], counted: 4 }),
  });
  down.add('bj-a'); // the direct probe disagrees: ignored
  await clock.advanceAsync(1000, 50);
  assert.equal(map.shardsOf('bj-a').length, 4);
  up.delete('bj-a');
  await clock.advanceAsync(1000, 50);
  assert.equal(map.shardsOf('bj-a').length, 0);
  const verdict = (await audit.list()).find((e) => e.action === 'verdict' && e.zone === 'bj-a')!;
  assert.deepEqual(verdict.declaredBy, { probers: ['sh-a', 'sh-b', 'gz-a'], of: 4 });
  assert.match(declaredDown(verdict), /^bj-a declared down by 3 of 4 probers \(sh-a, sh-b, gz-a\); 4 shards moved to /);
  c.stop();
});

test('failover/controller: a minority at most is failed over at once (no cascade when the observer is sick)', async () => {
  const { clock, map, down, c, audit } = await setup();
  down.add('sh-a');
  await clock.advanceAsync(800, 50);
  assert.equal(map.shardsOf('sh-a').length, 0);
  down.add('bj-a');
  down.add('gz-a');
  await clock.advanceAsync(1500, 50);
  assert.equal(map.shardsOf('bj-a').length, 4, 'a second zone must not be failed over with 4 zones');
  assert.equal(map.shardsOf('gz-a').length, 4);
  assert.equal(c.states()['bj-a']?.state, 'suspect');
  assert.ok((await audit.list()).some((e) => e.zone === 'bj-a' && /not failed over/.test(String(e.reason))));
  // when the first zone is back (recovered), the next may go
  down.delete('sh-a');
  await clock.advanceAsync(1000, 50);
  assert.ok(map.shardsOf('bj-a').length === 0 || map.shardsOf('gz-a').length === 0);
  c.stop();
});

test('failover/controller: failover/failback refuse unknown or unready zones with codes', async () => {
  const { c, down, clock } = await setup();
  await assert.rejects(c.failover('mars'), { code: 'ERR_FAILOVER_UNKNOWN_ZONE' });
  await assert.rejects(c.failback('sh-a'), { code: 'ERR_FAILOVER_NOT_READY' }); // no lease yet
  for (const z of ['sh-a', 'sh-b', 'bj-a']) down.add(z);
  await clock.advanceAsync(200, 50);
  await assert.rejects(c.failover('gz-a'), { code: 'ERR_FAILOVER_NO_BACKUP' });
  c.stop();
});

test('failover/controller: a planned failover of a zone that is already down moves at once, fenced, instead of waiting for its lag', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  const down = new Set<string>(['gz-a']);
  const c = new FailoverController({
    topology,
    map,
    audit: new AuditLog(kv, clock),
    clock,
    config: topology.config.failover,
    probe: async (z) => !down.has(z),
    // a dead zone's backlog never shrinks
    replication: () => ({ lagFor: (z: string) => (z === 'gz-a' ? 5 : 0) }),
  });
  c.start();
  await clock.advanceAsync(200, 50); // seen down, not yet for `after`
  assert.equal(c.states()['gz-a']?.state, 'suspect');
  let done: { moved: number } | undefined;
  void c.failover('gz-a').then((r) => {
    done = r;
  });
  await clock.advanceAsync(200, 50);
  assert.deepEqual(done, { moved: 4 }, 'not held for plannedTimeoutMs');
  assert.equal(map.shardsOf('gz-a').length, 0);
  assert.equal(c.states()['gz-a']?.state, 'failed');
  for (let s = 12; s < 16; s++) assert.equal(map.entry(s).epoch, 2);
  c.stop();
});

test('failover/controller: after a restart of every process, a zone that left cleanly gets its restart window from the new leader’s takeover, not from when it left', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  // gz-a shut down cleanly long ago (the first of four processes stopped one by one), and is
  // still starting again when the new leader takes over
  await kv.put('lease.gz-a', JSON.stringify({ zone: 'gz-a', expiresAt: 1000, left: 0 }));
  await clock.advanceAsync(60_000, 1000);
  const { leader, c } = await ledController(kv, map, clock, new Set(['gz-a']));
  await clock.advanceAsync(5000, 50); // well past `after`, within RESTART_LEASES leases of the takeover
  assert.equal(map.shardsOf('gz-a').length, 4, 'a restarting zone keeps its shards');
  // it never comes back: it is failed over once the window counted from the takeover ends
  await clock.advanceAsync(6000, 50);
  assert.equal(map.shardsOf('gz-a').length, 0);
  c.stop();
  await leader.stop({ resign: true });
});

test('failover/controller: a lead that lapsed locally and came back in the same term keeps what the controller saw (a late renewal under load does not restart the clock on a dead zone)', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  await kv.put('lease.gz-a', JSON.stringify({ zone: 'gz-a', expiresAt: 100 })); // crashed: no `left`
  const leaderKv = new PartitionableKv(kv, 'sh-a');
  const leader = new LeaderElection({
    kv: leaderKv,
    id: 'sh-a#1',
    zones: ['sh-a'],
    clock,
    leaseMs: 1000,
    renewMs: 200,
    skewMs: 100,
  });
  await leader.start();
  const leads: boolean[] = [];
  const down = new Set<string>();
  const c = new FailoverController({
    topology,
    map,
    audit: new AuditLog(kv, clock),
    clock,
    config: topology.config.failover,
    leader,
    probe: async (z) => {
      leads.push(c.leads());
      return !down.has(z);
    },
  });
  c.start();
  await clock.advanceAsync(300, 50);
  down.add('gz-a');
  await clock.advanceAsync(300, 50); // suspect for ~300 ms of the 500 of `after`
  assert.equal(c.states()['gz-a']?.state, 'suspect');
  leads.length = 0;
  leaderKv.setIsolated(true); // renewals fail (a stalled process, a slow Kv) past the local lease end
  await clock.advanceAsync(1000, 50);
  assert.ok(leads.includes(false), 'the controller saw its lead lapse');
  leaderKv.setIsolated(false);
  await clock.advanceAsync(250, 50); // renewed in the same term: nobody took the lease meanwhile
  assert.equal(leader.term(), 1);
  assert.equal(map.shardsOf('gz-a').length, 0, 'moved at once: down for longer than `after` already');
  c.stop();
  await leader.stop({ resign: true });
});

test('failover/controller: a new leader that saw a zone down while it followed moves its shards on taking over, without waiting `after` again', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  // bj-a's process led the control plane and crashed at t = 0 with its zone: neither lease is renewed
  await kv.put('lease.bj-a', JSON.stringify({ zone: 'bj-a', expiresAt: clock.wallTime() + 1000 }));
  await kv.put(
    LEADER_KEY,
    JSON.stringify({ holder: 'bj-a#1', zones: ['bj-a'], term: 1, expiresAt: clock.wallTime() + 1000, renewedAt: 0 }),
  );
  const { leader, c } = await ledController(kv, map, clock, new Set(['bj-a']));
  await clock.advanceAsync(1050, 10);
  assert.equal(c.leads(), false, 'follows while the crashed leader’s lease holds');
  const bjShards = [...map.shardsOf('bj-a')];
  assert.equal(bjShards.length, 4);
  // free at 1100 (lease + skew): taken over then, and bj-a, seen down since t ≈ 100 (longer
  // than `after`, 500 ms), is failed over by the next rounds
  await clock.advanceAsync(300, 10);
  assert.equal(c.leads(), true);
  assert.equal(leader.term(), 2);
  assert.equal(map.shardsOf('bj-a').length, 0, 'moved within a few rounds of the takeover');
  for (const s of bjShards) assert.equal(map.entry(s).term, 2, 'moved in the new term (the fencing token)');
  c.stop();
  await leader.stop({ resign: true });
});

test('failover/controller: a planned move waits for lag 0 on the links to the zones taking the shards, not on every link', async () => {
  const clock = new ManualClock(0);
  const kv = new MemoryKv();
  const map = await new ShardMap(kv, 16, clock).start();
  await map.init(topology.initialOwners(), topology.coreZone);
  const asked: (readonly string[] | undefined)[] = [];
  // the holder's link to some third zone is stuck (its lag cannot shrink); the links a move
  // hands shards over are clean
  const c = new FailoverController({
    topology,
    map,
    audit: new AuditLog(kv, clock),
    clock,
    config: { ...topology.config.failover, plannedTimeoutMs: 1000 },
    probe: async () => true,
    replication: () => ({
      lagFor: (_z: string, to?: readonly string[]) => {
        asked.push(to);
        return to === undefined ? 7 : 0;
      },
    }),
  });
  c.start();
  await clock.advanceAsync(300, 50);
  const before = map.shardsOf('gz-a').length;
  let done: { moved: number } | undefined;
  void c.failover('gz-a').then((r) => {
    done = r;
  });
  await clock.advanceAsync(500, 50);
  assert.deepEqual(done, { moved: before }, 'moved without waiting for the stuck link');
  // the zones asked about are exactly the zones gz-a's shards went to
  const got = new Set<string>();
  topology.initialOwners().forEach((home, s) => {
    if (home === 'gz-a') got.add(map.owner(s).zone);
  });
  const named = asked.find((t) => t !== undefined);
  assert.deepEqual([...(named ?? [])].sort(), [...got].sort(), `asked: ${JSON.stringify(asked)}`);
  assert.ok(!got.has('gz-a'));
  c.stop();
});
