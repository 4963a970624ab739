import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { AppWatch } from './app-watch.ts';
import { healthErrors } from './errors.ts';

/** A watch over a scripted app: `alive` decides each probe; flips are recorded. */
function scripted(o: { fall: number; rise: number }) {
  const clock = new ManualClock();
  const flips: boolean[] = [];
  const state = { alive: true, hang: false, probes: 0 };
  const watch = new AppWatch({
    zone: 'sh-a',
    host: '127.0.0.1',
    port: 1,
    path: '/healthz',
    clock,
    intervalMs: 1000,
    timeoutMs: 500,
    rise: o.rise,
    fall: o.fall,
    onChange: (up) => flips.push(up),
    probe: async () => {
      state.probes++;
      if (state.hang) return new Promise<void>(() => {});
      if (!state.alive) throw healthErrors.ERR_HEALTH_PROBE_STATUS('health: 503');
    },
  });
  return { clock, flips, state, watch };
}

test('health/app-watch: starts up, down after fall failures in a row, up after rise successes', async () => {
  const { flips, state, watch } = scripted({ fall: 3, rise: 2 });
  assert.equal(watch.up, true);
  state.alive = false;
  await watch.probeNow();
  await watch.probeNow();
  assert.equal(watch.up, true);
  state.alive = true;
  await watch.probeNow(); // a success in between resets the count
  state.alive = false;
  for (let i = 0; i < 3; i++) await watch.probeNow();
  assert.equal(watch.up, false);
  assert.equal(watch.lastError?.code, healthErrors.ERR_HEALTH_PROBE_STATUS.code);
  state.alive = true;
  await watch.probeNow();
  assert.equal(watch.up, false);
  await watch.probeNow();
  assert.equal(watch.up, true);
  assert.deepEqual(flips, [false, true]);
});

test('health/app-watch: a probe without an answer fails at the timeout', async () => {
  const { clock, state, watch } = scripted({ fall: 1, rise: 1 });
  state.hang = true;
  const p = watch.probeNow();
  clock.advance(500);
  assert.equal(await p, false);
  assert.equal(watch.lastError?.code, healthErrors.ERR_HEALTH_PROBE_TIMEOUT.code);
  assert.equal(watch.up, false);
});

test('health/app-watch: a timeout that fired late (this process stalled) counts neither way', async () => {
  const manual = new ManualClock();
  // the 500 ms probe timeout fires 300 ms late, as after a blocked event loop
  const late = Object.assign(Object.create(manual) as ManualClock, {
    setTimer: (ms: number, fn: () => void) => manual.setTimer(ms === 500 ? 800 : ms, fn),
  });
  const watch = new AppWatch({
    zone: 'sh-a',
    host: '127.0.0.1',
    port: 1,
    path: '/healthz',
    clock: late,
    intervalMs: 1000,
    timeoutMs: 500,
    rise: 1,
    fall: 1,
    onChange: () => assert.fail('no flip'),
    probe: () => new Promise<void>(() => {}),
  });
  const p = watch.probeNow();
  manual.advance(800);
  assert.equal(await p, false);
  assert.equal(watch.up, true);
});

test('health/app-watch: start() probes every interval on the injected clock; stop() ends it', async () => {
  const { clock, state, watch } = scripted({ fall: 2, rise: 1 });
  watch.start();
  await clock.advanceAsync(1);
  assert.equal(state.probes, 1);
  state.alive = false;
  await clock.advanceAsync(1000, 100);
  await clock.advanceAsync(1000, 100);
  assert.equal(state.probes, 3);
  assert.equal(watch.up, false);
  watch.stop();
  await clock.advanceAsync(5000, 500);
  assert.equal(state.probes, 3);
});
