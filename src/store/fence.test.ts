import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fenceFromShardMap, MemoryFence } from './fence.ts';

test('fence: the memory fence follows moves with epoch + 1', () => {
  const f = new MemoryFence(['a', 'a', 'b']);
  f.check('a', 0, 1);
  assert.throws(() => f.check('b', 0, 1), { code: 'ERR_STORE_NOT_OWNER' });
  assert.throws(() => f.check('a', 0, 2), { code: 'ERR_STORE_STALE_EPOCH' });
  assert.throws(() => f.check('a', 3, 1), { code: 'ERR_STORE_BAD_SHARD' });
  assert.deepEqual(f.moveAll('a', 'b'), [0, 1]);
  f.check('b', 0, 2);
  assert.equal(f.owner(1), 'b');
});

test('fence: a shard map with leases maps refusals onto the store codes', () => {
  const owners = new Map<number | 'global', { zone: string; epoch: number }>([[0, { zone: 'a', epoch: 3 }]]);
  let leased = true;
  const f = fenceFromShardMap({
    owner: (s) => owners.get(s),
    canWrite: (z, s, e) => leased && owners.get(s)?.zone === z && owners.get(s)?.epoch === e,
  });
  f.check('a', 0, 3);
  assert.throws(() => f.check('a', 0, 2), { code: 'ERR_STORE_STALE_EPOCH' });
  assert.throws(() => f.check('b', 0, 3), { code: 'ERR_STORE_NOT_OWNER' });
  leased = false;
  // still a's shard at this epoch, only the lease lapsed: a wait (503), not a misdirect (421)
  assert.throws(() => f.check('a', 0, 3), { code: 'ERR_STORE_FENCED' });
  assert.throws(() => f.check('b', 0, 3), { code: 'ERR_STORE_NOT_OWNER' });
  assert.throws(() => f.check('a', 9, 1), { code: 'ERR_STORE_BAD_SHARD' });
  assert.equal(f.owner(0), 'a');
});

test('fence: with global: true the global entry of the shard map fences global writes', () => {
  const owners = new Map<number | 'global', { zone: string; epoch: number }>([['global', { zone: 'b', epoch: 2 }]]);
  const map = {
    owner: (s: number | 'global') => owners.get(s),
    canWrite: (z: string, s: number | 'global', e: number) => owners.get(s)?.zone === z && owners.get(s)?.epoch === e,
  };
  assert.equal(fenceFromShardMap(map).checkGlobal, undefined);
  const f = fenceFromShardMap(map, { global: true });
  f.checkGlobal!('b', 2);
  assert.throws(() => f.checkGlobal!('a', 2), { code: 'ERR_STORE_NOT_CORE' });
  assert.throws(() => f.checkGlobal!('b', 1), { code: 'ERR_STORE_STALE_EPOCH' });
});
