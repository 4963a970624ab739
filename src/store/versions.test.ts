import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecordState } from './types.ts';
import { compareVv, maxVv, reconcile, vvText } from './versions.ts';

const rec = (vv: Record<string, number>, value: unknown, origin = 'a'): RecordState => ({
  resource: 'r',
  key: 'k',
  shard: 0,
  cls: 'sharded',
  value,
  deleted: false,
  vv,
  version: Object.values(vv).reduce((x, y) => x + y, 0),
  origin,
  time: 0,
  locked: false,
  candidates: [],
});

test('versions: compareVv orders descendants and spots concurrency', () => {
  assert.equal(compareVv({ a: 1 }, { a: 1 }), 'equal');
  assert.equal(compareVv({ a: 1 }, { a: 1, b: 1 }), 'before');
  assert.equal(compareVv({ a: 2 }, { a: 1, b: 0 }), 'after');
  assert.equal(compareVv({ a: 2 }, { a: 1, b: 1 }), 'concurrent');
  assert.deepEqual(maxVv([{ a: 2 }, { a: 1, b: 1 }]), { a: 2, b: 1 });
  assert.equal(vvText({ b: 1, a: 2, c: 0 }), 'a:2,b:1');
});

test('versions: a third version descending from one candidate replaces it, the lock stays', () => {
  const lock = { kind: 'lock' } as const;
  const one = reconcile(rec({ a: 2 }, 'a2'), rec({ a: 1, b: 1 }, 'b1', 'b'), lock);
  assert.equal(one.outcome, 'conflict');
  assert.equal(one.state.locked, true);
  const two = reconcile(one.state, rec({ a: 1, b: 2 }, 'b2', 'b'), lock);
  assert.deepEqual(
    two.state.candidates.map((c) => c.value),
    ['a2', 'b2'],
  );
  // a version descending from both candidates (a resolution) unlocks
  const three = reconcile(two.state, rec({ a: 3, b: 2 }, 'fixed'), lock);
  assert.equal(three.state.locked, false);
  assert.equal(three.state.value, 'fixed');
  // the same input in the other order converges to the same state
  const other = reconcile(rec({ a: 1, b: 1 }, 'b1', 'b'), rec({ a: 2 }, 'a2'), lock);
  assert.deepEqual(other.state.candidates, one.state.candidates);
  assert.equal(reconcile(one.state, rec({ a: 1 }, 'old'), lock).outcome, 'stale');
});

test('versions: equal vectors with different contents settle the same way in every zone', () => {
  const lock = { kind: 'lock' } as const;
  const x = rec({ a: 2, b: 1 }, 'x', 'a');
  const y = rec({ a: 2, b: 1 }, 'y', 'b');
  const xy = reconcile(x, y, lock).state;
  const yx = reconcile(y, x, lock).state;
  assert.equal(xy.value, yx.value);
  assert.equal(xy.locked, false);
  assert.equal(reconcile(xy, yx, lock).outcome, 'stale');
});
