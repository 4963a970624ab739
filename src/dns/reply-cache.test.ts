import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { type CachedReply, hashKey, ReplyCache } from './reply-cache.ts';

const k = (s: string) => Buffer.from(s, 'latin1');
const entry = (key: string, version: number, expires: number): CachedReply => ({
  key: k(key),
  bytes: Buffer.from([version]),
  rcode: 0,
  nameLength: 1,
  version,
  expires,
});
const get = (c: ReplyCache, key: string, version: number, now: number) =>
  c.get(hashKey(k(key), key.length), k(key), key.length, version, now);

test('dns/cache: hits match version and freshness', () => {
  const clock = new ManualClock();
  const c = new ReplyCache(10);
  c.set(hashKey(k('k'), 1), entry('k', 1, 100));
  assert.ok(get(c, 'k', 1, clock.now()));
  assert.equal(get(c, 'k', 2, clock.now()), undefined, 'other state version');
  clock.advance(100);
  assert.equal(get(c, 'k', 1, clock.now()), undefined, 'expired');
});

test('dns/cache: a hash collision is a miss, never the wrong reply', () => {
  const c = new ReplyCache(10);
  // store "b"'s entry under "a"'s hash, as a colliding key would be
  c.set(hashKey(k('a'), 1), entry('b', 0, 1));
  assert.equal(get(c, 'a', 0, 0), undefined);
  assert.equal(c.get(hashKey(k('a'), 1), k('ab'), 1, 0, 0), undefined, 'length differs');
});

test('dns/cache: bounded, recently used entries survive', () => {
  const c = new ReplyCache(10);
  c.set(hashKey(k('hot'), 3), entry('hot', 0, 1));
  for (let i = 0; i < 100; i++) {
    const key = `k${i}`;
    c.set(hashKey(k(key), key.length), entry(key, 0, 1));
    assert.ok(get(c, 'hot', 0, 0), `hot survives insert ${i}`);
  }
  assert.ok(c.size <= 10);
});

test('dns/cache: hashKey spreads and stays a small integer', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 10000; i++) {
    const h = hashKey(k(`api.shop.test|${i}`), `api.shop.test|${i}`.length);
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 30);
    seen.add(h);
  }
  assert.ok(seen.size > 9990);
});
