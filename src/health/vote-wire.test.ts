import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeVote, encodeVote, HEARTBEAT_INTERVALS, STALE_HEARTBEATS, voteStaleMs } from './vote-wire.ts';

it('health: a shared vote is {"s","at"}; the legacy bare form and malformed values decode to nothing', () => {
  assert.equal(encodeVote({ state: 'up', at: 1_700_000_000_000 }), '{"s":"up","at":1700000000000}');
  assert.deepEqual(decodeVote('{"s":"down","at":1700000000000}'), { state: 'down', at: 1_700_000_000_000 });
  assert.deepEqual(decodeVote(encodeVote({ state: 'unknown', at: 5 })), { state: 'unknown', at: 5 });
  for (const bad of [
    'up',
    'down',
    'unknown',
    '',
    '{',
    'null',
    '{"s":"up"}',
    '{"s":"maybe","at":1}',
    '{"s":"up","at":"1"}',
  ])
    assert.equal(decodeVote(bad), null, bad);
});

it('health: the stale bound is 3 republish periods', () => {
  assert.equal(HEARTBEAT_INTERVALS, 5);
  assert.equal(STALE_HEARTBEATS, 3);
  assert.equal(voteStaleMs(2000), 30_000);
});
