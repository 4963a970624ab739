import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { ResponseRateLimiter, sourceNetwork } from './rate-limiter.ts';

const make = (slip = 2, clock = new ManualClock()) => ({
  clock,
  rrl: new ResponseRateLimiter({ responsesPerSecond: 10, burst: 5, slip, now: () => clock.now() }),
});

test('rrl: a source gets its burst, then every Nth limited reply slips and the rest drop', () => {
  const { rrl } = make(3);
  const got = Array.from({ length: 11 }, () => rrl.check('192.0.2.1'));
  assert.deepEqual(got, ['send', 'send', 'send', 'send', 'send', 'drop', 'drop', 'slip', 'drop', 'drop', 'slip']);
});

test('rrl: tokens refill at the configured rate on the injected clock', () => {
  const { rrl, clock } = make(0);
  for (let i = 0; i < 5; i++) assert.equal(rrl.check('192.0.2.1'), 'send');
  assert.equal(rrl.check('192.0.2.1'), 'drop');
  clock.advance(99);
  assert.equal(rrl.check('192.0.2.1'), 'drop', '0.99 of a token is not enough');
  clock.advance(1);
  assert.equal(rrl.check('192.0.2.1'), 'send', '10/s = one token per 100 ms');
  clock.advance(10_000);
  for (let i = 0; i < 5; i++) assert.equal(rrl.check('192.0.2.1'), 'send', 'refills only up to the burst');
  assert.equal(rrl.check('192.0.2.1'), 'drop');
});

test('rrl: a /24 (IPv4) or /56 (IPv6) shares one bucket; others are independent', () => {
  const { rrl } = make(0);
  for (let i = 0; i < 5; i++) rrl.check(`192.0.2.${i + 10}`);
  assert.equal(rrl.check('192.0.2.200'), 'drop');
  assert.equal(rrl.check('192.0.3.1'), 'send');
  for (let i = 0; i < 5; i++) rrl.check(`2001:db8:0:${i}::1`);
  assert.equal(rrl.check('2001:db8:0:ff::1'), 'drop', 'same /56');
  assert.equal(rrl.check('2001:db8:0:100::1'), 'send', 'next /56');
});

test('rrl: source networks', () => {
  assert.equal(sourceNetwork('1.2.3.4'), '1.2.3');
  assert.equal(sourceNetwork('::ffff:1.2.3.4'), '::ffff:1.2.3');
  assert.equal(sourceNetwork('2001:db8:1:2ff::1'), '2001:db8:1:200::');
});

test('rrl: the number of tracked sources stays bounded', () => {
  const clock = new ManualClock();
  const rrl = new ResponseRateLimiter({
    responsesPerSecond: 10,
    burst: 5,
    slip: 2,
    now: () => clock.now(),
    maxSources: 100,
  });
  for (let i = 0; i < 1000; i++) rrl.check(`10.${i >> 8}.${i & 255}.1`);
  assert.ok(rrl.size <= 100);
});
