import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { LatencyAggregator, subnetKey } from './latency.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];

function agg(clock = new ManualClock()) {
  return { clock, a: new LatencyAggregator({ clock, minReports: 3, halfLifeSeconds: 60 }) };
}

test('httpdns/latency: subnet keys match steering (/24 for IPv4, /56 for IPv6)', () => {
  assert.equal(subnetKey('1.2.4.8'), '1.2.4.0/24');
  assert.equal(subnetKey('2001:db8:1:2ff::1'), '2001:db8:1:200::/56');
});

test('httpdns/latency: ranks zones fastest first once two zones have enough reports', () => {
  const { a } = agg();
  const add = (zone: string, rttMs: number, n: number) => {
    for (let i = 0; i < n; i++) a.add('1.2.4.8', 'unicom', [{ zone, rttMs, ok: true }]);
  };
  add('bj-a', 40, 3);
  assert.equal(a.rank('1.2.4.0/24', null, ZONES), null); // one zone is not a comparison
  add('gz-a', 10, 2);
  assert.equal(a.rank('1.2.4.0/24', null, ZONES), null); // gz-a has too few
  add('gz-a', 10, 1);
  assert.deepEqual(a.rank('1.2.4.0/24', null, ZONES), ['gz-a', 'bj-a']);
  // only zones asked about are ranked
  assert.equal(a.rank('1.2.4.0/24', null, ['bj-a', 'sh-a']), null);
});

test('httpdns/latency: a subnet without reports uses its carrier; failures count as slow', () => {
  const { a } = agg();
  for (let i = 0; i < 3; i++)
    a.add('1.2.4.8', 'unicom', [
      { zone: 'bj-a', rttMs: 5, ok: false },
      { zone: 'sh-a', rttMs: 50, ok: true },
    ]);
  assert.deepEqual(a.rank('9.9.9.0/24', 'unicom', ZONES), ['sh-a', 'bj-a']);
  assert.equal(a.rank('9.9.9.0/24', 'telecom', ZONES), null);
});

test('httpdns/latency: reports decay with the half-life until the ranking falls back to geo', () => {
  const { a, clock } = agg();
  for (let i = 0; i < 4; i++)
    a.add('1.2.4.8', null, [
      { zone: 'bj-a', rttMs: 40, ok: true },
      { zone: 'gz-a', rttMs: 10, ok: true },
    ]);
  assert.deepEqual(a.rank('1.2.4.0/24', null, ZONES), ['gz-a', 'bj-a']);
  clock.advance(30_000); // 4 × 2^-0.5 ≈ 2.8 < 3
  assert.equal(a.rank('1.2.4.0/24', null, ZONES), null);
  assert.ok(a.describe('s:1.2.4.0/24')['gz-a']!.reports < 3);
});
