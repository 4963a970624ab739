import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { type AnycastInputs, type DecisionOptions, decide, initialDecisionState } from './decision.ts';

const GOOD: AnycastInputs = { healthy: true, leaseHeld: true, draining: false, shuttingDown: false };
const opts: DecisionOptions = { riseMs: 10_000, onDown: 'withdraw' };

/** Runs the decision over a script of (advance ms, inputs) steps on a manual clock; returns each step's action/reason. */
function script(steps: [number, Partial<AnycastInputs>][], o = opts): string[] {
  const clock = new ManualClock(0);
  let state = initialDecisionState();
  return steps.map(([ms, i]) => {
    clock.advance(ms);
    const r = decide(state, { ...GOOD, ...i }, clock.now(), o);
    state = r.state;
    return `${r.decision.action}/${r.decision.reason}`;
  });
}

test('anycast/decide: a starting zone waits rise before its first announcement', () => {
  assert.deepEqual(
    script([
      [0, {}],
      [9_999, {}],
      [1, {}],
    ]),
    ['withdraw/rising', 'withdraw/rising', 'announce/healthy'],
  );
});

test('anycast/decide: a health flap withdraws at once and the rise starts over', () => {
  assert.deepEqual(
    script(
      [
        [0, {}],
        [0, { healthy: false }],
        [1_000, {}],
        [5_000, { healthy: false }], // flaps mid-rise: starts over
        [1_000, {}],
        [9_999, {}],
        [1, {}],
      ],
      { riseMs: 10_000, onDown: 'withdraw' },
    ),
    [
      'withdraw/rising',
      'withdraw/unhealthy',
      'withdraw/rising',
      'withdraw/unhealthy',
      'withdraw/rising',
      'withdraw/rising',
      'announce/healthy',
    ],
  );
  // once announced, one bad reading withdraws
  assert.deepEqual(
    script(
      [
        [0, {}],
        [0, { healthy: false }],
      ],
      { riseMs: 0, onDown: 'withdraw' },
    ),
    ['announce/healthy', 'withdraw/unhealthy'],
  );
});

test('anycast/decide: lease loss and drain withdraw; draining is named before lease loss, lease loss before health', () => {
  assert.deepEqual(
    script(
      [
        [0, {}],
        [0, { leaseHeld: false }],
        [0, { leaseHeld: false, healthy: false }],
        [0, { draining: true, leaseHeld: false }],
        [0, {}],
      ],
      { riseMs: 0, onDown: 'withdraw' },
    ),
    ['announce/healthy', 'withdraw/lease-lost', 'withdraw/lease-lost', 'withdraw/draining', 'announce/healthy'],
  );
});

test('anycast/decide: onDown prepend keeps a down zone announced with prepends, but shutdown always withdraws', () => {
  assert.deepEqual(
    script(
      [
        [0, {}],
        [5_000, {}],
        [0, { healthy: false }],
        [0, { draining: true }],
        [0, { shuttingDown: true }],
        [20_000, { shuttingDown: true }],
      ],
      { riseMs: 5_000, onDown: 'prepend' },
    ),
    [
      'prepend/rising',
      'announce/healthy',
      'prepend/unhealthy',
      'prepend/draining',
      'withdraw/shutdown',
      'withdraw/shutdown',
    ],
  );
});

test('anycast/decide: rising reports the time left', () => {
  const r = decide({ goodSince: 1_000 }, GOOD, 4_000, opts);
  assert.deepEqual(r.decision, { action: 'withdraw', reason: 'rising', riseLeftMs: 7_000 });
});
