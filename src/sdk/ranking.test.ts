import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { IpRanker } from './ranking.ts';

test('sdk/ranking: with no history the server order stands', () => {
  const r = new IpRanker(new ManualClock());
  assert.deepEqual(r.rank(['a', 'b', 'c']), ['a', 'b', 'c']);
});

test('sdk/ranking: a recently failing address is demoted, and comes back as the failures decay', () => {
  const clock = new ManualClock();
  const r = new IpRanker(clock);
  r.record('a', false);
  assert.deepEqual(r.rank(['a', 'b', 'c']), ['b', 'c', 'a']);
  clock.advance(10 * 60_000); // ten recent half-lives
  assert.deepEqual(r.rank(['a', 'b', 'c']), ['a', 'b', 'c']);
});

test('sdk/ranking: recently and historically successful addresses are promoted; slow ones lose ties', () => {
  const clock = new ManualClock();
  const r = new IpRanker(clock);
  r.record('c', true, 20);
  assert.deepEqual(r.rank(['a', 'b', 'c']), ['c', 'a', 'b']);
  // history: b always worked, a mostly failed, long ago (recent window has faded)
  for (let i = 0; i < 5; i++) {
    r.record('b', true, 30);
    r.record('a', false);
  }
  clock.advance(15 * 60_000);
  const order = r.rank(['a', 'b', 'c']);
  assert.equal(order[0], 'b');
  assert.equal(order[2], 'a');
  const s = r.score('b');
  assert.equal(s.recentFailRate, 0);
  assert.equal(s.historySuccessRate, 1);
  assert.ok(s.rttMs !== null && s.rttMs > 0);
});

test('sdk/ranking: a high recent failure rate outweighs a good history', () => {
  const clock = new ManualClock();
  const r = new IpRanker(clock);
  for (let i = 0; i < 20; i++) r.record('a', true, 10);
  clock.advance(30 * 60_000);
  for (let i = 0; i < 3; i++) r.record('a', false);
  r.record('a', true, 10);
  assert.deepEqual(r.rank(['a', 'b']), ['b', 'a']);
});
