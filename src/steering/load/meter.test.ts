import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../core/clock.ts';
import { LoadMeter } from './meter.ts';

test('steering/meter: a steady rate from idle reads half after one half-life, and halves after it stops', () => {
  const clock = new ManualClock();
  const m = new LoadMeter(clock, 2000);
  const second = (hits: number) => {
    for (let i = 0; i < hits; i++) m.hit('bj-a', 'edge');
    clock.advance(1000);
    m.tick();
  };
  second(100);
  second(100);
  assert.ok(Math.abs(m.rate('bj-a', 'edge') - 50) < 1e-9, `after 2 s: ${m.rate('bj-a', 'edge')}`);
  for (let i = 0; i < 18; i++) second(100);
  assert.ok(Math.abs(m.rate('bj-a', 'edge') - 100) < 0.1, `after 20 s: ${m.rate('bj-a', 'edge')}`);
  const steady = m.rate('bj-a', 'edge');
  second(0);
  second(0);
  assert.ok(Math.abs(m.rate('bj-a', 'edge') - steady / 2) < 1e-9);
  assert.equal(m.rate('bj-a', 'router'), 0, 'listeners are counted apart');
  assert.equal(m.rate('sh-a', 'edge'), 0);
});

test('steering/meter: ticks of any length weigh alike (a late timer does not skew the rate)', () => {
  const clock = new ManualClock();
  const a = new LoadMeter(clock, 2000);
  const b = new LoadMeter(clock, 2000);
  // a: 4 ticks of 500 ms, b: one of 2000 ms, both 50 hits per 500 ms (100 rps)
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 50; j++) {
      a.hit('z', 'router');
      b.hit('z', 'router');
    }
    clock.advance(500);
    a.tick();
  }
  b.tick();
  assert.ok(Math.abs(a.rate('z', 'router') - b.rate('z', 'router')) < 1e-9);
  assert.ok(Math.abs(a.rate('z', 'router') - 50) < 1e-9);
});
