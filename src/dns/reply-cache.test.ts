import assert from 'node:assert/strict';
import { test } from 'node:test';
import { query } from '../../test/integration/dns/helpers.ts';
import { type CachedReply, hashKey, ReplyCache } from './reply-cache.ts';
import { cookieAt, hashPacket, keyMatches, keySkip, questionNameEnd, writeKey } from './stages/cache.ts';

const k = (s: string) => Buffer.from(s, 'latin1');
const entry = (key: string): CachedReply => ({
  key: k(key),
  bytes: Buffer.from(key),
  rcode: 0,
  qtype: 1,
  ttl: 60,
  version: 0,
  expires: 1,
  byAddress: false,
});
const h = (s: string) => hashKey(k(s), s.length);

test('dns/cache: bounded, recently used entries survive', () => {
  const c = new ReplyCache(10);
  c.set(h('hot'), entry('hot'));
  for (let i = 0; i < 100; i++) {
    c.set(h(`k${i}`), entry(`k${i}`));
    assert.equal(c.get(h('hot'))?.key.toString(), 'hot', `hot survives insert ${i}`);
  }
  assert.ok(c.size <= 10);
  assert.equal(c.get(h('k0')), undefined, 'old, unused entries are gone');
});

test('dns/cache: hashKey spreads and stays a small integer', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 10000; i++) {
    const x = h(`api.shop.test|${i}`);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 30);
    seen.add(x);
  }
  assert.ok(seen.size > 9990);
});

test('dns/cache: the packet key ignores id, RD, CD and name case, nothing else', () => {
  const base = query('api.shop.test', 'A', { id: 1, ecs: { ip: '1.2.4.0', prefix: 24 } });
  const end = questionNameEnd(base);
  assert.equal(end, 12 + 15);
  const same = query('API.Shop.TEST', 'A', { id: 999, ecs: { ip: '1.2.4.0', prefix: 24 } });
  same[2] = same[2]! ^ 0x01; // RD flipped
  same[3] = same[3]! ^ 0x10; // CD flipped
  assert.equal(hashPacket(same, end), hashPacket(base, end));
  // a key written for `base` (the stage writes it the same way) matches `same`
  const key = Buffer.concat([Buffer.from([base[2]! & 0xfe, base[3]! & 0xef]), base.subarray(4)]);
  assert.ok(keyMatches(key, same, end, null));
  for (const other of [
    query('api.shop.test', 'AAAA', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
    query('api.shop.test', 'A', { ecs: { ip: '1.2.5.0', prefix: 24 } }),
    query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 23 } }),
    query('apj.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
  ])
    assert.equal(keyMatches(key, other, questionNameEnd(other), null), false);
  // with an address: only the same address matches
  const withAddr = Buffer.concat([key, Buffer.from('10.0.0.1', 'latin1')]);
  assert.ok(keyMatches(withAddr, same, end, '10.0.0.1'));
  assert.equal(keyMatches(withAddr, same, end, '10.0.0.2'), false);
  assert.equal(keyMatches(withAddr, same, end, null), false);
});

test('dns/cache: names that are not plain labels inside the packet are not keyed', () => {
  const q = query('api.shop.test', 'A');
  assert.equal(questionNameEnd(q.subarray(0, 20)), -1, 'runs past the end');
  const ptr = Buffer.from(q);
  ptr[12] = 0xc0; // a compression pointer in the question
  assert.equal(questionNameEnd(ptr), -1);
});

/** A query as dig sends it: ECS and an 8-byte client cookie (plus a server cookie when given). */
function digQuery(id: number, cookie: Buffer, ip = '1.2.4.0'): Buffer {
  return query('api.shop.test', 'A', { id, ecs: { ip, prefix: 24 }, cookie });
}

test('dns/cache: the key sets the COOKIE value aside, and only it', () => {
  const a = digQuery(1, Buffer.alloc(8, 0xaa));
  const b = digQuery(2, Buffer.alloc(8, 0xbb));
  const end = questionNameEnd(a);
  assert.equal(a.subarray(cookieAt(a, end), cookieAt(a, end) + 8).toString('hex'), 'aa'.repeat(8));
  assert.equal(hashPacket(a, end, keySkip(a, end)), hashPacket(b, end, keySkip(b, end)));
  assert.notEqual(hashPacket(a, end), hashPacket(b, end), 'without the skip the cookie is part of the key');
  const key = writeKey(a, end, null, keySkip(a, end));
  assert.equal(key.length, a.length - 2 - 8);
  assert.ok(keyMatches(key, b, end, null, keySkip(b, end)));
  const withAddr = writeKey(a, end, '10.0.0.1', keySkip(a, end));
  assert.ok(keyMatches(withAddr, b, end, '10.0.0.1', keySkip(b, end)));
  assert.equal(keyMatches(withAddr, b, end, '10.0.0.2', keySkip(b, end)), false);
  // another subnet, or a client + server cookie (another length), is another key
  for (const other of [digQuery(3, Buffer.alloc(8, 0xaa), '1.2.5.0'), digQuery(4, Buffer.alloc(24, 0xaa))])
    assert.equal(keyMatches(key, other, questionNameEnd(other), null, keySkip(other, questionNameEnd(other))), false);
  // no OPT, an OPT without a cookie, a packet with more records: nothing is skipped
  for (const q of [query('api.shop.test', 'A'), query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } })])
    assert.equal(cookieAt(q, questionNameEnd(q)), -1);
  const two = Buffer.from(a);
  two[11] = 2; // ARCOUNT 2: not the layout looked at
  assert.equal(cookieAt(two, end), -1);
  assert.equal(cookieAt(a.subarray(0, a.length - 1), end), -1, 'an option running past the end');
});
