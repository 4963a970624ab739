import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashRing, rankPaths } from './upstream.ts';

test('edge/upstream: consistent hashing lists every parent once and moves few keys when one leaves', () => {
  const p = ['a', 'b', 'c', 'd'].map((name) => ({ name }));
  const ring = new HashRing(p);
  assert.deepEqual(
    ring
      .order('/x')
      .map((t) => t.name)
      .sort(),
    ['a', 'b', 'c', 'd'],
  );
  const smaller = new HashRing(p.filter((t) => t.name !== 'd'));
  let moved = 0;
  let total = 0;
  for (let i = 0; i < 2000; i++) {
    const before = ring.order(`/k${i}`)[0]!.name;
    const after = smaller.order(`/k${i}`)[0]!.name;
    if (before !== 'd') {
      total++;
      if (before !== after) moved++;
    }
  }
  // keys not owned by the removed parent stay where they were
  assert.equal(moved, 0);
  assert.ok(total > 1000);
  // the second choice is the failover: where d's keys go when d is gone
  for (let i = 0; i < 200; i++) {
    const o = ring.order(`/k${i}`);
    if (o[0]!.name === 'd') assert.equal(smaller.order(`/k${i}`)[0]!.name, o[1]!.name);
  }
});

test('edge/upstream: origin paths rank by latency inflated by error rate', () => {
  const paths = [
    { name: 'direct', latencyMs: 40, errorRate: 0 },
    { name: 'relay', latencyMs: 10, errorRate: 0 },
    { name: 'flaky', latencyMs: 5, errorRate: 0.5 },
  ];
  assert.deepEqual(
    rankPaths(paths).map((p) => p.name),
    ['relay', 'direct', 'flaky'],
  );
});
