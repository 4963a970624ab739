import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../core/clock.ts';
import type { ShardOwner } from '../../shardmap/index.ts';
import { OwnerHistory } from './table-shard.ts';

const owner = (zone: string, epoch: number, notBefore = 0): ShardOwner => ({
  zone,
  epoch,
  notBefore,
  draining: false,
  revision: epoch,
});

test('tables/OwnerHistory: a former owner held a shard until the failover let the new one write (notBefore), else until the move was seen', () => {
  const clock = new ManualClock(0, 1_000_000);
  const h = new OwnerHistory(clock);
  assert.equal(h.ownedUntil(3, 'sh-a'), undefined);
  // failover: the new owner writes from the old lease's end on
  h.observe({ shard: 3, owner: owner('bj-a', 2, 1_002_500), previous: owner('sh-a', 1) });
  assert.equal(h.ownedUntil(3, 'sh-a'), 1_002_500);
  assert.equal(h.ownedUntil(3, 'bj-a'), undefined);
  assert.equal(h.ownedUntil(4, 'sh-a'), undefined);
  // a planned move (no notBefore): until this process saw it
  clock.advance(5000);
  h.observe({ shard: 'global', owner: owner('sh-b', 7), previous: owner('sh-a', 6) });
  assert.equal(h.ownedUntil('global', 'sh-a'), 1_005_000);
  // a change that keeps the owner (a drain flag, a resolution) moves nothing
  h.observe({ shard: 3, owner: owner('bj-a', 2), previous: owner('bj-a', 2, 1_002_500) });
  assert.equal(h.ownedUntil(3, 'bj-a'), undefined);
  // the first owner gets it back and loses it again: the newer end counts
  clock.advance(1000);
  h.observe({ shard: 3, owner: owner('sh-a', 3), previous: owner('bj-a', 2) });
  h.observe({ shard: 3, owner: owner('gz-a', 4, 1_009_000), previous: owner('sh-a', 3) });
  assert.equal(h.ownedUntil(3, 'sh-a'), 1_009_000);
  assert.equal(h.ownedUntil(3, 'bj-a'), 1_006_000);
});
