import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEntry } from '../failover/index.ts';
import type { Sample } from './traffic.ts';
import { countMisroutedWrites, movedFrom, ownerHistory, shardMoves } from './verify.ts';

const start = [
  { shard: 0, zone: 'bj-a', epoch: 1 },
  { shard: 1, zone: 'sh-a', epoch: 1 },
];
const audit: AuditEntry[] = [
  // before the drill (lastSeq 5): not the drill's move
  { seq: 5, at: 0, action: 'move', shards: [[1, 2]], from: 'sh-a', to: 'gz-a' },
  {
    seq: 6,
    at: 1000,
    action: 'move',
    shards: [
      [0, 2],
      ['global', 3],
    ],
    from: 'bj-a',
    to: 'sh-b',
    notBefore: 1500,
  },
  { seq: 7, at: 1100, action: 'verdict', zone: 'bj-a' },
];

/** An answered write of `shard` at `epoch`, served by `by` at wall ms `servedAt`. */
function write(shard: number, epoch: number, by: string, servedAt: number, o: Partial<Sample> = {}): Sample {
  return {
    t0: 0,
    affected: true,
    write: true,
    ok: true,
    kind: 'ok',
    entry: by,
    servedBy: by,
    shard,
    epoch,
    servedAt,
    ...o,
  };
}

const samples: Sample[] = [
  write(0, 1, 'bj-a', 900), // the old owner before the move
  write(0, 1, 'bj-a', 1200), // the old owner after the move, before the new owner may write
  write(0, 2, 'sh-b', 1600), // the new owner
  write(0, 2, 'bj-a', 1700), // not the owner at that epoch
  write(1, 1, 'sh-a', 100), // superseded only by a move from before the drill
  write(0, 7, 'sh-b', 2000), // an epoch the history does not know
  write(0, 2, 'gz-a', 2000, { write: false }), // a replica read
  write(0, 2, 'gz-a', 2000, { ok: false, kind: 'http 503 ERR_ROUTER_FENCED' }),
  write(Number.NaN, 1, 'bj-a', 2000), // no shard header
];

test('drill: owner history is the start snapshot plus the drill’s moves of real shards', () => {
  const owners = ownerHistory(start, shardMoves(audit, 5));
  assert.deepEqual(
    [...owners].map(([shard, h]) => [shard, [...h]]),
    [
      [
        0,
        [
          [1, { zone: 'bj-a', at: 0, notBefore: 0 }],
          [2, { zone: 'sh-b', at: 1000, notBefore: 1500 }],
        ],
      ],
      [1, [[1, { zone: 'sh-a', at: 0, notBefore: 0 }]]],
    ],
  );
});

test('drill: fenced, a write is misrouted when its zone did not own the epoch or a newer owner could write', () => {
  const owners = ownerHistory(start, shardMoves(audit, 5));
  assert.deepEqual(countMisroutedWrites(samples, owners, 'fenced'), { writes: 1, unverifiable: 1 });
});

test('drill: available, a write at the old epoch after the move itself is misrouted too', () => {
  const owners = ownerHistory(start, shardMoves(audit, 5));
  assert.deepEqual(countMisroutedWrites(samples, owners, 'available'), { writes: 2, unverifiable: 1 });
});

test('drill: moved counts the zone’s real shards by destination, from the drill’s moves only', () => {
  assert.deepEqual(movedFrom(shardMoves(audit, 5), 'bj-a'), { 'sh-b': 1 });
  assert.deepEqual(movedFrom(shardMoves(audit, 5), 'sh-a'), {});
  assert.deepEqual(movedFrom(shardMoves(audit, 4), 'sh-a'), { 'gz-a': 1 });
});
