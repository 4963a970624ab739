import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { seededRandom } from '../../core/random.ts';
import { Ip2RegionGeoDb } from '../../geo/index.ts';
import { DEFAULT_TOPOLOGY_FILE, parseTopology } from '../../topology/index.ts';
import { createSteering } from '../engine.ts';
import { MutableSteeringState } from '../mutable-state.ts';

const geo = new Ip2RegionGeoDb();
const base = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');
const withLatency = parseTopology(base.replace('    capacity: true\n', '    capacity: true\n    latency: true\n'));
const withoutLatency = parseTopology(base);

function rankingState(rank: readonly string[] | null, seen: unknown[][] = []): MutableSteeringState {
  const s = new MutableSteeringState();
  s.latencyRank = (key, isp, zones) => {
    seen.push([key, isp, zones]);
    return rank;
  };
  return s;
}

test('steering/latency: with reports, the fastest zone for the subnet goes first', () => {
  const seen: unknown[][] = [];
  const st = createSteering({ topology: withLatency, geo, random: seededRandom(1) });
  const a = st.decide({ service: 'api.shop.test', client: '1.2.4.8' }, rankingState(['gz-a', 'sh-b'], seen));
  assert.deepEqual(
    a.endpoints.map((e) => e.zone),
    ['gz-a', 'sh-b'],
  );
  assert.match(a.rule, /\+latency$/);
  assert.equal(seen[0]![0], '1.2.4.0/24');
  assert.ok(a.scope >= 24);
});

test('steering/latency: too few reports (null) keeps the geo order', () => {
  const st = createSteering({ topology: withLatency, geo, random: seededRandom(1) });
  const a = st.decide({ service: 'api.shop.test', client: '1.2.4.8' }, rankingState(null));
  assert.equal(a.endpoints[0]!.zone, 'bj-a');
  assert.equal(a.rule, 'north');
});

test('steering/latency: does nothing unless the policy says latency: true', () => {
  const seen: unknown[][] = [];
  const st = createSteering({ topology: withoutLatency, geo, random: seededRandom(1) });
  const a = st.decide({ service: 'api.shop.test', client: '1.2.4.8' }, rankingState(['gz-a', 'sh-b'], seen));
  assert.equal(a.endpoints[0]!.zone, 'bj-a');
  assert.equal(seen.length, 0);
});

test('steering/latency: unranked zones follow the ranked ones in geo order', () => {
  const st = createSteering({ topology: withLatency, geo, random: seededRandom(1) });
  // only gz-a ranked (a ranking may name fewer zones): gz-a, then bj-a (geo first for Beijing)
  const a = st.decide({ service: 'api.shop.test', client: '1.2.4.8' }, rankingState(['gz-a']));
  assert.deepEqual(
    a.endpoints.map((e) => e.zone),
    ['gz-a', 'bj-a'],
  );
});
