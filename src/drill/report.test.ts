import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselineShare, errorKinds, goalRtoMs, perSecond, rtoMs } from './report.ts';
import type { Sample } from './traffic.ts';

/** A sample at t0 ms from the fault; affected unless said otherwise. */
function at(t0: number, ok: boolean, o: { affected?: boolean; kind?: string } = {}): Sample {
  return {
    t0,
    ok,
    affected: o.affected ?? true,
    write: false,
    kind: ok ? 'ok' : (o.kind ?? 'connect ECONNREFUSED'),
    entry: 'bj-a',
  };
}

/** Affected samples every `step` ms over [from, to), ok unless `fails(t)`. */
function every(from: number, to: number, step: number, fails: (t: number) => boolean): Sample[] {
  const out: Sample[] = [];
  for (let t = from; t < to; t += step) out.push(at(t, !fails(t)));
  return out;
}

test('drill: RTO is the first 1 s window with ≥ 99 % of affected requests ok', () => {
  // failures before the fault do not count; after it, from 100 to 1500 ms: the window at 1500 still holds one of ten
  const samples = [...every(-3000, 0, 100, () => true), ...every(0, 5000, 100, (t) => t >= 100 && t <= 1500)];
  assert.equal(rtoMs(samples), 1600);
});

test('drill: RTO counts a window with one failure in a hundred as recovered', () => {
  const samples = every(0, 10_000, 10, (t) => t < 500 || t === 600);
  assert.equal(rtoMs(samples), 500);
  // two in a hundred is not enough: windows slide in 100 ms steps, so the next one starts at 700
  assert.equal(rtoMs(every(0, 10_000, 10, (t) => t < 500 || t === 600 || t === 610)), 700);
});

test('drill: RTO windows start no earlier than 1 s before the first failure', () => {
  assert.equal(rtoMs(every(0, 3000, 100, (t) => t === 2500)), 1500);
});

test('drill: RTO is 0 when no affected request fails after the fault', () => {
  const samples = [
    ...every(0, 3000, 100, () => false),
    at(-500, false), // before the fault
    at(1000, false, { affected: false }),
  ];
  assert.equal(rtoMs(samples), 0);
});

test('drill: RTO is null when no full window recovers before the traffic ends', () => {
  assert.equal(rtoMs(every(0, 3000, 100, (t) => t >= 500)), null);
  assert.equal(rtoMs([at(0, false)]), null);
});

test('drill: per-second buckets count requests, successes and error kinds per second from the fault, in order', () => {
  const samples = [
    at(1000, true, { affected: false }),
    at(-200, false, { kind: 'connect ECONNREFUSED' }),
    at(0, true),
    at(999, false, { kind: 'http 503 ERR_ROUTER_FENCED' }),
    at(-1500, true, { affected: false }),
    at(Number.NEGATIVE_INFINITY, false, { affected: false, kind: 'client-overload' }), // fault never sent
  ];
  assert.deepEqual(perSecond(samples), [
    { second: -2, affected: 0, affectedOk: 0, total: 1, ok: 1, errors: {} },
    { second: -1, affected: 1, affectedOk: 0, total: 1, ok: 0, errors: { 'connect ECONNREFUSED': 1 } },
    { second: 0, affected: 2, affectedOk: 1, total: 2, ok: 1, errors: { 'http 503 ERR_ROUTER_FENCED': 1 } },
    { second: 1, affected: 0, affectedOk: 0, total: 1, ok: 1, errors: {} },
  ]);
});

test('drill: error kinds count every failed request by kind, ok ones not at all', () => {
  const samples = [
    at(-5000, false, { kind: 'timeout UND_ERR_HEADERS_TIMEOUT' }),
    at(100, false, { kind: 'http 502 ERR_ROUTER_UPSTREAM' }),
    at(200, false, { kind: 'http 502 ERR_ROUTER_UPSTREAM' }),
    at(Number.NEGATIVE_INFINITY, false, { kind: 'client-overload' }),
    at(300, true),
  ];
  assert.deepEqual(errorKinds(samples), {
    'timeout UND_ERR_HEADERS_TIMEOUT': 1,
    'http 502 ERR_ROUTER_UPSTREAM': 2,
    'client-overload': 1,
  });
});

test('drill: baseline is the share ok of requests sent more than 2 s before the fault', () => {
  const samples = [
    at(-4000, true),
    at(-3000, true),
    at(-2500, false),
    at(-2001, true),
    at(-2000, false),
    at(500, false),
  ];
  assert.equal(baselineShare(samples), 0.75);
  assert.equal(baselineShare([at(-1000, false)]), 1);
});

test('drill: the RTO goal is 2 s, plus the lease when fenced', () => {
  assert.equal(goalRtoMs('available', 3000), 2000);
  assert.equal(goalRtoMs('fenced', 3000), 5000);
});
