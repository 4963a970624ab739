import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTopology } from '../topology/index.ts';
import { planGlobal, planMoves } from './placement.ts';

const topo = parseTopology(`
apex: shop.test
regions: { east: {}, north: {}, south: {} }
zones:
  sh-a: { region: east, core: true, backups: [sh-b, bj-a, gz-a], listen: { app: 127.0.0.1:0 } }
  sh-b: { region: east, backups: [sh-a, gz-a, bj-a], listen: { app: 127.0.0.1:0 } }
  bj-a: { region: north, backups: [sh-a, sh-b, gz-a], capacity: 3000, listen: { app: 127.0.0.1:0 } }
  gz-a: { region: south, backups: [sh-b, sh-a, bj-a], listen: { app: 127.0.0.1:0 } }
services: { api.shop.test: { role: app } }
policies: { nearest: { default: [sh-a, sh-b, bj-a, gz-a] } }
`);
const z = (n: string) => topo.zone(n);
const shards = Array.from({ length: 100 }, (_, i) => i);

test('placement: same-region backup takes everything while alive', () => {
  const plan = planMoves(z('sh-a'), shards, topo.zones, () => true)!;
  assert.deepEqual(new Set(plan.values()), new Set(['sh-b']));
  assert.equal(plan.size, 100);
});

test('placement: without a same-region backup, shards spread by capacity', () => {
  const plan = planMoves(z('sh-a'), shards, topo.zones, (n) => n !== 'sh-b')!;
  const counts = new Map<string, number>();
  for (const v of plan.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  assert.equal(counts.get('bj-a'), 75);
  assert.equal(counts.get('gz-a'), 25);
});

test('placement: no live backup gives null', () => {
  assert.equal(
    planMoves(z('gz-a'), shards, topo.zones, (n) => n === 'gz-a'),
    null,
  );
  assert.equal(
    planGlobal(z('sh-a'), topo.zones, () => false),
    null,
  );
});

test('placement: the global role goes to the same-region backup first', () => {
  assert.equal(
    planGlobal(z('sh-a'), topo.zones, () => true),
    'sh-b',
  );
  assert.equal(
    planGlobal(z('sh-a'), topo.zones, (n) => n !== 'sh-b'),
    'bj-a',
  );
});
