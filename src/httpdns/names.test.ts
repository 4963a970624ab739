import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../core/random.ts';
import { defaultGeoDb, intToIpv4 } from '../geo/index.ts';
import { createSteering, MutableSteeringState } from '../steering/index.ts';
import { loadTopology, parseTopology } from '../topology/index.ts';
import { NameTable } from './names.ts';

const topology = loadTopology();
const geo = defaultGeoDb();

/** Random public IPv4 clients, several per /24 so the cache is actually hit. */
function clients(n: number, seed: number): string[] {
  const rnd = seededRandom(seed);
  const out: string[] = [];
  while (out.length < n) {
    const net = ((1 + rnd.int(222)) << 24) | (rnd.int(256) << 16) | (rnd.int(256) << 8);
    for (let k = 0; k < 4; k++) out.push(intToIpv4(((net | (1 + rnd.int(254))) >>> 0) as number));
  }
  return out;
}

const view = (a: { endpoints: readonly { id: string }[]; ttl: number } | null) =>
  a ? `${a.endpoints.map((e) => e.id).join(',')}|${a.ttl}` : 'null';

test('httpdns/names: cached decisions equal fresh ones, client by client, before and after a state change', () => {
  const state = new MutableSteeringState();
  const steering = createSteering({ topology, geo, state });
  const names = new NameTable(topology, steering, state);
  const fresh = createSteering({ topology, geo, state });
  const all = clients(4000, 11);
  let differing = 0;
  for (const round of [0, 1]) {
    for (const ip of all) {
      for (const fam of [4, 6] as const) {
        const want = view(fresh.decide({ service: 'api.shop.test', client: ip, family: fam }, state));
        const got = view(names.decide('API.shop.test.', ip, fam));
        if (want !== got) differing++;
      }
    }
    if (round === 0) state.setUp('bj-a/edge', false); // the next round must see it at once
  }
  assert.equal(differing, 0);
  // and the change did matter for someone: a northern client no longer gets bj-a first
  assert.notEqual(names.decide('api.shop.test', '1.2.4.8', 4)!.endpoints[0]!.zone, 'bj-a');
});

test('httpdns/names: a policy that is not sticky is decided every time (its draws are random per request)', () => {
  const t = parseTopology(
    `apex: shop.test
regions: { r: {} }
zones:
  a: { region: r, core: true, listen: { edge: 127.0.0.1:0 } }
  b: { region: r, listen: { edge: 127.0.0.2:0 } }
services: { w.shop.test: { role: edge, policy: p } }
policies: { p: { default: [[a, b]], answers: 1, sticky: false } }
`,
    'names-test.yaml',
  );
  const state = new MutableSteeringState();
  const names = new NameTable(t, createSteering({ topology: t, geo, state, random: seededRandom(3) }), state);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) seen.add(names.decide('w.shop.test', '1.2.4.8', 4)!.endpoints[0]!.zone);
  assert.deepEqual([...seen].sort(), ['a', 'b']);
});

test('httpdns/names: without a versioned state of its own nothing is cached (the steering’s default state may change unseen)', () => {
  const hidden = new MutableSteeringState();
  const names = new NameTable(topology, createSteering({ topology, geo, state: hidden }), undefined);
  assert.equal(names.decide('api.shop.test', '1.2.4.8', 4)!.endpoints[0]!.zone, 'bj-a');
  hidden.setUp('bj-a/edge', false);
  assert.notEqual(names.decide('api.shop.test', '1.2.4.9', 4)!.endpoints[0]!.zone, 'bj-a');
});
