import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logger.ts';
import { seededRandom } from '../../core/random.ts';
import { TableGeoDb } from '../../geo/index.ts';
import { MemoryKv } from '../../shardmap/index.ts';
import { loadTopology } from '../../topology/index.ts';
import { createSteering } from '../engine.ts';
import { MutableSteeringState } from '../mutable-state.ts';
import { encodeLoad, loadKey } from './wire.ts';
import { type ShedChange, ZoneLoads } from './zone-loads.ts';

const topology = loadTopology(); // every zone's capacity is 1000
const config = { intervalMs: 1000, halfLifeSeconds: 1, lowMark: 0.9, slewPerSecond: 0.2 };
const geo = new TableGeoDb([{ cidr: '10.0.0.0/8', country: 'CN', province: 'CN-BJ' }]);
const steering = createSteering({ topology, geo, random: seededRandom(1) });
const SUBNETS = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);

function process(o: { kv: MemoryKv; clock: ManualClock; zones: string[]; id: string; changes?: ShedChange[] }) {
  const state = new MutableSteeringState();
  const loads = new ZoneLoads({
    kv: o.kv,
    clock: o.clock,
    logger: silentLogger,
    topology,
    localZones: o.zones,
    state,
    processId: o.id,
    config,
    onChange: (e) => o.changes?.push(e),
  });
  loads.start();
  return { state, loads };
}

/** One second of `rps` requests at a zone's edge, all of them dynamic (they reach its router too). */
async function second(clocks: ManualClock[], loads: ZoneLoads, zone: string, rps: number): Promise<void> {
  for (let i = 0; i < rps; i++) {
    loads.hit(zone, 'edge');
    loads.hit(zone, 'router');
  }
  for (let ms = 0; ms < 1000; ms += 100) {
    for (const c of clocks) c.advance(100);
    await new Promise((r) => setImmediate(r)); // Kv puts and watch deliveries
  }
}

test('steering/zone-loads: a zone’s load published by its process sheds it in every other process; it ages out when the process stops publishing', async () => {
  const kv = new MemoryKv();
  const clockA = new ManualClock();
  const clockB = new ManualClock();
  const a = process({ kv, clock: clockA, zones: ['bj-a'], id: 'bj-a_p1' });
  const b = process({ kv, clock: clockB, zones: ['sh-a'], id: 'sh-a_p2' });
  for (let s = 0; s < 15; s++) await second([clockA, clockB], a.loads, 'bj-a', 2000);
  const seen = b.loads.report().zones.find((z) => z.zone === 'bj-a')!;
  assert.ok(Math.abs(seen.load - 2000) < 20, `load ${seen.load}`);
  assert.deepEqual(seen.processes, ['bj-a_p1']);
  assert.equal(seen.local, false);
  assert.equal(seen.shedding, true);
  assert.ok(Math.abs(seen.share - 0.5) <= 0.011, `share ${seen.share}`);
  // both processes steer alike (b reads a's record one interval late: the load figure may differ)
  assert.equal(b.state.shed('bj-a')!.share, a.state.shed('bj-a')!.share);
  assert.equal(b.state.shed('bj-a')!.over, true);
  assert.ok(await kv.get(loadKey('bj-a', 'bj-a_p1')));

  // the process is killed: its clock stands still, nothing is deleted; its record goes stale
  const staleSeconds = b.loads.staleMs / 1000;
  for (let s = 0; s <= staleSeconds; s++) await second([clockB], b.loads, 'sh-a', 0);
  assert.equal(b.loads.report().zones.find((z) => z.zone === 'bj-a')!.load, 0);
  for (let s = 0; s < 5; s++) await second([clockB], b.loads, 'sh-a', 0);
  assert.deepEqual(b.state.shed('bj-a'), { load: 0, share: 0, over: false }, 'a stale load does not shed forever');

  // a clean stop deletes its records at once
  await b.loads.stop();
  assert.equal(await kv.get(loadKey('sh-a', 'sh-a_p2')), null);
  await a.loads.stop();
  await kv.close();
});

test('steering/zone-loads: on a manual clock, clients leave a zone once as its load rises, stay through the band, and return once', async () => {
  const kv = new MemoryKv();
  const clock = new ManualClock();
  const changes: ShedChange[] = [];
  const p = process({ kv, clock, zones: ['sh-a', 'sh-b', 'bj-a', 'gz-a'], id: 'all_p', changes });
  const profile = [
    ...Array.from({ length: 10 }, (_, i) => 200 * (i + 1)), // up to 2000 rps
    ...Array.from({ length: 10 }, () => 2000),
    ...Array.from({ length: 15 }, () => 950), // between the low mark (900) and the capacity
    ...Array.from({ length: 15 }, () => 300),
  ];
  const first = (n: string) => steering.decide({ service: 'api.shop.test', client: n }, p.state).endpoints[0]!.zone;
  const away = new Map(SUBNETS.map((n) => [n, false]));
  const moves = new Map(SUBNETS.map((n) => [n, 0]));
  const shares: number[] = [];
  for (const rps of profile) {
    await second([clock], p.loads, 'bj-a', rps);
    shares.push(p.state.shed('bj-a')!.share);
    for (const n of SUBNETS) {
      const now = first(n) !== 'bj-a';
      if (now !== away.get(n)) moves.set(n, moves.get(n)! + 1);
      away.set(n, now);
    }
  }
  // the share rose by at most the slew per second, reached (L − C) / L, followed the load down
  // to the capacity, held what was left in the band, and fell to 0 below the low mark
  for (let i = 1; i < shares.length; i++) assert.ok(Math.abs(shares[i]! - shares[i - 1]!) <= 0.2 + 1e-9, `${shares}`);
  assert.ok(Math.abs(shares[19]! - 0.5) <= 0.011, `at 2000 rps: ${shares[19]}`);
  const band = shares.slice(27, 35);
  assert.ok(
    band.every((x) => x === band[0] && x > 0),
    `in the band: ${band}`,
  );
  assert.equal(shares.at(-1), 0);
  assert.ok(
    [...moves.values()].every((m) => m === 0 || m === 2),
    'each client left at most once and came back once',
  );
  const movedOnce = [...moves.values()].filter((m) => m === 2).length / SUBNETS.length;
  assert.ok(Math.abs(movedOnce - 0.5) < 0.05, `${movedOnce} of the clients moved away at the peak`);
  assert.deepEqual(
    changes.map((c) => [c.zone, c.shedding]),
    [
      ['bj-a', true],
      ['bj-a', false],
    ],
  );
  assert.match(changes[0]!.reason, /over capacity \(load \d+ rps > 1000\)/);
  await p.loads.stop();
  await kv.close();
});

test('steering/zone-loads: every zone over capacity is reported (answers follow preference)', async () => {
  const kv = new MemoryKv();
  const clock = new ManualClock();
  const zones = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
  const p = process({ kv, clock, zones, id: 'all_p' });
  for (let s = 0; s < 6; s++) {
    for (const z of zones) for (let i = 0; i < 1500; i++) p.loads.hit(z, 'edge');
    await second([clock], p.loads, 'bj-a', 0);
  }
  assert.equal(p.loads.report().exhausted, true);
  await p.loads.stop();
  await kv.close();
});

test('steering/zone-loads: records that are not load records, for unknown zones, or from a clock far ahead are ignored', async () => {
  const kv = new MemoryKv();
  const clock = new ManualClock();
  const p = process({ kv, clock, zones: ['sh-a'], id: 'sh-a_p' });
  const wall = clock.wallTime();
  await kv.put('load.bj-a.x1', 'garbage');
  await kv.put('load.nope.x2', encodeLoad({ edge: 5000, router: 5000, at: wall }));
  await kv.put('load.gz-a.x3', encodeLoad({ edge: 5000, router: 5000, at: wall + 3_600_000 }));
  await kv.put('load.sh-b.x4', JSON.stringify({ edge: -1, router: 2, at: wall }));
  await second([clock], p.loads, 'sh-a', 0);
  for (const z of p.loads.report().zones) assert.equal(z.load, 0, z.zone);
  await p.loads.stop();
  await kv.close();
});
