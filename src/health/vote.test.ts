import assert from 'node:assert/strict';
import { it } from 'node:test';
import { applyOutcome, newVote } from './vote.ts';

const ok = { ok: true, rttMs: 3, at: 1 };
const bad = { ok: false, rttMs: 9, at: 2, error: { code: 'ERR_HEALTH_PROBE_CONNECT', message: 'refused' } };

it('health: a vote goes down after fall consecutive failures and up after rise successes', () => {
  const v = newVote();
  assert.equal(applyOutcome(v, ok, 2, 3), false);
  assert.equal(v.state, 'unknown');
  assert.equal(applyOutcome(v, ok, 2, 3), true);
  assert.equal(v.state, 'up');
  assert.equal(applyOutcome(v, bad, 2, 3), false);
  assert.equal(applyOutcome(v, bad, 2, 3), false);
  assert.equal(v.state, 'up');
  assert.equal(applyOutcome(v, bad, 2, 3), true);
  assert.equal(v.state, 'down');
  assert.deepEqual(
    [v.failures, v.successes, v.lastResult, v.lastError?.code],
    [3, 0, 'fail', 'ERR_HEALTH_PROBE_CONNECT'],
  );
  assert.equal(applyOutcome(v, ok, 2, 3), false);
  assert.equal(v.state, 'down');
  assert.equal(applyOutcome(v, ok, 2, 3), true);
  assert.deepEqual([v.state, v.successes, v.failures, v.lastError, v.probes, v.lastRttMs], ['up', 2, 0, null, 7, 3]);
});

it('health: a failure in between resets the count (no flapping)', () => {
  const v = newVote();
  for (let i = 0; i < 20; i++) {
    applyOutcome(v, bad, 2, 3);
    applyOutcome(v, bad, 2, 3);
    applyOutcome(v, ok, 2, 3);
  }
  assert.equal(v.state, 'unknown');
});
