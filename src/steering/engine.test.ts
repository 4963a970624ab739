import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { seededRandom } from '../core/random.ts';
import { Ip2RegionGeoDb, TableGeoDb } from '../geo/index.ts';
import { DEFAULT_TOPOLOGY_FILE, loadTopology, parseTopology } from '../topology/index.ts';
import { createSteering } from './engine.ts';
import { MutableSteeringState } from './mutable-state.ts';

const topology = loadTopology();
const geo = new Ip2RegionGeoDb();
const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const SEED = Number(process.env.SIM_SEED ?? 42);

function stateWith(down: string[], loads: Record<string, number> = {}): MutableSteeringState {
  const s = new MutableSteeringState();
  for (const d of down) s.setUp(d, false);
  for (const [z, l] of Object.entries(loads)) s.setLoad(z, l);
  return s;
}

test('steering: northern, southern and eastern clients go to their zone first', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  const first = (ip: string) => st.decide({ service: 'api.shop.test', client: ip }).endpoints[0]!.zone;
  assert.equal(first('61.135.169.121'), 'bj-a'); // Beijing unicom
  assert.equal(first('202.96.128.86'), 'gz-a'); // Guangdong telecom
  assert.ok(['sh-a', 'sh-b'].includes(first('114.114.114.114'))); // Jiangsu
  const a = st.decide({ service: 'api.shop.test', client: '61.135.169.121' });
  assert.equal(a.rule, 'north');
  assert.equal(a.endpoints.length, 2);
  assert.equal(a.endpoints[0]!.host, '127.0.3.1');
  assert.equal(a.ttl, 60);
});

test('steering: a carrier-strong zone goes first within its tier', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  // Beijing mobile: bj-a first (rule), then sh-b (strong on mobile) before sh-a
  const a = st.decide({ service: 'api.shop.test', client: '117.136.0.1' });
  assert.deepEqual(
    a.endpoints.map((e) => e.zone),
    ['bj-a', 'sh-b'],
  );
});

test('steering: ECS subnet steers like its addresses and scopes the answer', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  const a = st.decide({ service: 'api.shop.test', client: '61.135.169.0/24' });
  assert.equal(a.endpoints[0]!.zone, 'bj-a');
  assert.ok(a.scope >= 16 && a.scope <= 32, `scope ${a.scope}`);
});

test('steering: fails open with a short TTL when every endpoint is down', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  const a = st.decide({ service: 'api.shop.test', client: '1.2.4.8' }, stateWith(ZONES.map((z) => `${z}/edge`)));
  assert.equal(a.failOpen, true);
  assert.equal(a.endpoints.length, 2);
  assert.ok(a.ttl <= 30);
});

const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
const downSet = fc.subarray(ZONES.map((z) => `${z}/edge`));

test('steering: never answers a down endpoint while an up one exists (property)', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  fc.assert(
    fc.property(ipv4, downSet, (ip, down) => {
      const a = st.decide({ service: 'api.shop.test', client: ip }, stateWith(down));
      assert.ok(a.endpoints.length > 0, 'always an answer');
      if (down.length < ZONES.length) {
        assert.equal(a.failOpen, false);
        for (const e of a.endpoints) assert.ok(!down.includes(e.id), `${e.id} is down`);
      } else assert.equal(a.failOpen, true);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test('steering: the same subnet and state give the same order (property)', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  fc.assert(
    fc.property(ipv4, downSet, (ip, down) => {
      const s = stateWith(down);
      const a = st.decide({ service: 'api.shop.test', client: ip }, s).endpoints.map((e) => e.id);
      const sameSubnet = `${ip.split('.').slice(0, 3).join('.')}.77`;
      const b = st.decide({ service: 'api.shop.test', client: sameSubnet }, s).endpoints.map((e) => e.id);
      assert.deepEqual(b, a);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

// A topology where every client is in Shanghai, sh-a and sh-b share a tier with weights 2:1
const weighted = parseTopology(
  readDefault()
    .replace(
      '    capacity: 1000\n    isps: [telecom]\n    listen:\n      dns: 127.0.1.1',
      '    capacity: 1000\n    weight: 2\n    listen:\n      dns: 127.0.1.1',
    )
    .replace('    isps: [mobile]\n', ''),
  'weighted.yaml',
);
function readDefault(): string {
  return readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');
}

test('steering: first-answer shares follow the weights across many clients', () => {
  const shGeo = new TableGeoDb([{ cidr: '10.0.0.0/8', country: 'CN', province: 'CN-SH' }]);
  const st = createSteering({ topology: weighted, geo: shGeo, random: seededRandom(SEED) });
  const r = seededRandom(SEED);
  const counts: Record<string, number> = {};
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const ip = `10.${r.int(256)}.${r.int(256)}.1`;
    const z = st.decide({ service: 'api.shop.test', client: ip }).endpoints[0]!.zone;
    counts[z] = (counts[z] ?? 0) + 1;
  }
  const shareA = (counts['sh-a'] ?? 0) / N;
  assert.ok(Math.abs(shareA - 2 / 3) < 0.03, `sh-a share ${shareA} should be near 2/3`);
  assert.equal((counts['sh-a'] ?? 0) + (counts['sh-b'] ?? 0), N);
});

test('steering: a zone over capacity sheds its overflow share to the next tier', () => {
  const bjGeo = new TableGeoDb([{ cidr: '10.0.0.0/8', country: 'CN', province: 'CN-BJ' }]);
  const st = createSteering({ topology, geo: bjGeo, random: seededRandom(SEED) });
  const r = seededRandom(SEED + 1);
  const s = stateWith([], { 'bj-a': 1250 }); // capacity 1000 → 20 % should move on
  let moved = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const a = st.decide({ service: 'api.shop.test', client: `10.${r.int(256)}.${r.int(256)}.9` }, s);
    if (a.endpoints[0]!.zone !== 'bj-a') moved++;
  }
  assert.ok(Math.abs(moved / N - 0.2) < 0.02, `moved ${moved / N}`);
});

test('steering: removing one endpoint only moves the clients that had it first (consistent)', () => {
  const shGeo = new TableGeoDb([{ cidr: '10.0.0.0/8', country: 'CN', province: 'CN-SH' }]);
  const st = createSteering({ topology, geo: shGeo, random: seededRandom(SEED) });
  const r = seededRandom(SEED + 2);
  const down = stateWith(['sh-b/edge']);
  for (let i = 0; i < 2000; i++) {
    const ip = `10.${r.int(256)}.${r.int(256)}.3`;
    const before = st.decide({ service: 'api.shop.test', client: ip }).endpoints[0]!.zone;
    const after = st.decide({ service: 'api.shop.test', client: ip }, down).endpoints[0]!.zone;
    if (before !== 'sh-b') assert.equal(after, before, ip);
  }
});

test('steering: unknown service is a coded error', () => {
  const st = createSteering({ topology, geo, random: seededRandom(SEED) });
  assert.throws(() => st.decide({ service: 'nope.shop.test', client: '1.2.3.4' }), {
    code: 'ERR_TOPOLOGY_UNKNOWN_SERVICE',
  });
  assert.throws(() => st.decide({ service: 'api.shop.test', client: 'nope' }), { code: 'ERR_GEO_BAD_IP' });
});
