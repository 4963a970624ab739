import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { ReplyCache } from './reply-cache.ts';

const entry = (version: number, expires: number) => ({
  bytes: Buffer.from([version]),
  rcode: 0,
  nameLength: 1,
  version,
  expires,
});

test('dns/cache: hits match version and freshness', () => {
  const clock = new ManualClock();
  const c = new ReplyCache(10, () => clock.now());
  c.set('k', entry(1, 100));
  assert.ok(c.get('k', 1));
  assert.equal(c.get('k', 2), undefined, 'other state version');
  clock.advance(100);
  assert.equal(c.get('k', 1), undefined, 'expired');
});

test('dns/cache: bounded, recently used entries survive', () => {
  const c = new ReplyCache(10, () => 0);
  c.set('hot', entry(0, 1));
  for (let i = 0; i < 100; i++) {
    c.set(`k${i}`, entry(0, 1));
    assert.ok(c.get('hot', 0), `hot survives insert ${i}`);
  }
  assert.ok(c.size <= 10);
});
