import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Shedder } from './shedder.ts';

const opts = { capacity: 1000, lowMark: 0.9, slewPerSecond: 0.1 };

/** Steps of one second at the given loads; the share after each and the changes seen. */
function run(s: Shedder, loads: number[]): { shares: number[]; changes: string[] } {
  const shares: number[] = [];
  const changes: string[] = [];
  for (const l of loads) {
    const c = s.step(l, 1);
    if (c) changes.push(c);
    shares.push(s.share);
  }
  return { shares, changes };
}

test('steering/shedder: over capacity the share slews to (L − C) / L, holds between the marks, returns below the low mark', () => {
  const s = new Shedder(opts);
  assert.deepEqual(run(s, [800, 1000]), { shares: [0, 0], changes: [] }); // at capacity: nothing
  assert.deepEqual(run(s, [1500, 1500, 1500, 1500, 1500]), {
    shares: [0.1, 0.2, 0.3, 0.333, 0.333],
    changes: ['start'],
  });
  // between 900 and 1000 the clients already moved stay moved
  assert.deepEqual(run(s, [950, 990, 905]), { shares: [0.333, 0.333, 0.333], changes: [] });
  assert.equal(s.shedding, true);
  assert.deepEqual(run(s, [800, 800, 800, 800, 800]), {
    shares: [0.233, 0.133, 0.033, 0, 0],
    changes: ['stop'],
  });
  assert.equal(s.shedding, false);
});

test('steering/shedder: a zone hovering at its capacity does not flap', () => {
  const s = new Shedder(opts);
  const loads = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1012 : 985));
  const { shares, changes } = run(s, loads);
  assert.deepEqual(changes, ['start'], 'started once, never stopped inside the band');
  // (1012 − 1000) / 1012 ≈ 1.2 %: the share settles and never drops back between steps
  const settled = shares.slice(10);
  assert.ok(
    settled.every((x) => x === settled[0]),
    `share moved: ${[...new Set(settled)].join(', ')}`,
  );
  assert.ok(settled[0]! > 0 && settled[0]! < 0.02, `share ${settled[0]}`);
});

test('steering/shedder: noise within the deadband does not move the share (nor the clients at its edge)', () => {
  const s = new Shedder(opts);
  run(
    s,
    Array.from({ length: 20 }, () => 2000),
  ); // target 0.5
  assert.equal(s.share, 0.5);
  // 1980..2020 rps: targets 0.495..0.505
  const { shares } = run(
    s,
    Array.from({ length: 50 }, (_, i) => 2000 + ((i * 7) % 41) - 20),
  );
  assert.ok(
    shares.every((x) => x === 0.5),
    `share moved: ${[...new Set(shares)].join(', ')}`,
  );
});

test('steering/shedder: the slew bounds the move per second, whatever the step length', () => {
  const a = new Shedder({ ...opts, slewPerSecond: 0.2 });
  a.step(4000, 0.5); // target 0.75, at most 0.1 in half a second
  assert.equal(a.share, 0.1);
  a.step(4000, 2);
  assert.equal(a.share, 0.5);
  a.step(0, 0.25); // below the low mark: down by at most 0.05
  assert.equal(a.share, 0.45);
});
