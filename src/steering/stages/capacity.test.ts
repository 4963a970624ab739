import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../core/random.ts';
import { TableGeoDb } from '../../geo/index.ts';
import { loadTopology } from '../../topology/index.ts';
import { createSteering } from '../engine.ts';
import { MutableSteeringState } from '../mutable-state.ts';

// Beijing without a carrier: bj-a (tier 1), then [sh-a, sh-b] (3), then gz-a (5)
const topology = loadTopology();
const geo = new TableGeoDb([{ cidr: '10.0.0.0/8', country: 'CN', province: 'CN-BJ' }]);
const SEED = Number(process.env.SIM_SEED ?? 42);
const steering = createSteering({ topology, geo, random: seededRandom(SEED) });
const SUBNETS = Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}`);

function order(state: MutableSteeringState, client: string): string[] {
  return steering.decide({ service: 'api.shop.test', client }, state).endpoints.map((e) => e.zone);
}

function stateWith(
  sheds: Record<string, { share: number; over?: boolean }>,
  down: string[] = [],
): MutableSteeringState {
  const s = new MutableSteeringState();
  for (const [z, x] of Object.entries(sheds)) s.setShed(z, { load: 0, share: x.share, over: x.over ?? x.share > 0 });
  for (const d of down) s.setUp(d, false);
  return s;
}

/** The subnets whose first answer is not bj-a. */
function shed(state: MutableSteeringState): Set<string> {
  return new Set(SUBNETS.filter((n) => order(state, `${n}.0/24`)[0] !== 'bj-a'));
}

test('steering/capacity: a zone sheds its decided share, and each client keeps its answer while the share grows and shrinks', () => {
  let prev = new Set<string>();
  for (const share of [0, 0.1, 0.25, 0.5, 0.8]) {
    const now = shed(stateWith({ 'bj-a': { share } }));
    assert.ok(Math.abs(now.size / SUBNETS.length - share) < 0.03, `share ${share}: moved ${now.size / SUBNETS.length}`);
    for (const n of prev) assert.ok(now.has(n), `${n} came back while the share grew to ${share}`);
    prev = now;
  }
  for (const share of [0.5, 0.2, 0]) {
    const now = shed(stateWith({ 'bj-a': { share } }));
    for (const n of now) assert.ok(prev.has(n), `${n} moved while the share shrank to ${share}`);
    prev = now;
  }
  assert.equal(prev.size, 0);
});

test('steering/capacity: the draw is per client subnet: every address of a /24 and every lookup get one answer', () => {
  const state = stateWith({ 'bj-a': { share: 0.5 } });
  for (const n of SUBNETS.slice(0, 300)) {
    const first = order(state, `${n}.0/24`);
    for (const host of [1, 77, 254]) assert.deepEqual(order(state, `${n}.${host}`), first, `${n}.${host}`);
    assert.deepEqual(order(state, `${n}.0/24`), first, `${n}.0/24 asked again`);
  }
});

test('steering/capacity: shed clients skip a tier that is itself over capacity, and never get a zone that is down', () => {
  const over = stateWith({ 'bj-a': { share: 0.5 }, 'sh-a': { share: 0, over: true }, 'sh-b': { share: 0.3 } });
  const down = stateWith({ 'bj-a': { share: 0.5 } }, ['sh-a/edge', 'sh-b/edge']);
  let moved = 0;
  for (const n of SUBNETS) {
    for (const state of [over, down]) {
      const o = order(state, `${n}.0/24`);
      if (o[0] === 'bj-a') continue;
      moved++;
      assert.equal(o[0], 'gz-a', `${n}: ${o.join(' ')}`);
      if (state === down) assert.deepEqual(o, ['gz-a', 'bj-a']);
    }
  }
  assert.ok(moved > SUBNETS.length * 0.8, `moved ${moved}`);
});

test('steering/capacity: when every zone is over, answers follow preference (fail-open)', () => {
  const all = { share: 0.6 };
  const state = stateWith({ 'bj-a': all, 'sh-a': all, 'sh-b': all, 'gz-a': all });
  for (const n of SUBNETS.slice(0, 500)) assert.equal(order(state, `${n}.0/24`)[0], 'bj-a', n);
  // the only zone with room is down: the same
  const down = stateWith({ 'bj-a': all, 'sh-a': all, 'sh-b': all }, ['gz-a/edge']);
  for (const n of SUBNETS.slice(0, 500)) assert.equal(order(down, `${n}.0/24`)[0], 'bj-a', n);
});

test('steering/capacity: without a decided share, a load over capacity sheds (L − C) / L', () => {
  const state = new MutableSteeringState();
  state.setLoad('bj-a', 1250); // capacity 1000
  const moved = SUBNETS.filter((n) => order(state, `${n}.0/24`)[0] !== 'bj-a').length / SUBNETS.length;
  assert.ok(Math.abs(moved - 0.2) < 0.03, `moved ${moved}`);
});

test('steering/capacity: the state version bumps when the share or the over mark changes, not on every load figure', () => {
  const s = new MutableSteeringState();
  s.setShed('bj-a', { load: 500, share: 0, over: false });
  const v = s.version;
  s.setShed('bj-a', { load: 640, share: 0, over: false });
  assert.equal(s.version, v);
  s.setShed('bj-a', { load: 1200, share: 0, over: true });
  assert.equal(s.version, v + 1);
  s.setShed('bj-a', { load: 1210, share: 0.1, over: true });
  assert.equal(s.version, v + 2);
  s.setShed('bj-a', null);
  assert.equal(s.version, v + 3);
  assert.equal(s.load('bj-a'), 0);
});
