import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import type { AnycastConfig } from '../topology/index.ts';
import { Announcer } from './announcer.ts';
import type { Announcement, BgpSession } from './bird-conf.ts';
import type { Speaker } from './bird-driver.ts';

/** A speaker that records what it was told (the real one, BIRD, is tested in test/integration/anycast). */
class RecordingSpeaker implements Speaker {
  log: string[] = [];
  carried: Announcement[] = [];
  failApply = false;
  async start() {
    this.log.push('start');
  }
  async apply(plan: readonly Announcement[]) {
    if (this.failApply) throw Object.assign(new Error('birdc: unreachable'), { code: 'ERR_ANYCAST_BIRDC_UNREACHABLE' });
    this.carried = plan.filter((a) => a.action !== 'withdraw');
    this.log.push(`apply ${plan.map((a) => `${a.name}=${a.action}`).join(',')}`);
  }
  async sessions(): Promise<BgpSession[]> {
    return [{ name: 'mz_up1', state: 'up', info: 'Established', established: true }];
  }
  async stop() {
    this.log.push('stop');
  }
}

const config = (o: Partial<AnycastConfig> = {}): AnycastConfig => ({
  localAs: 65001,
  prefixes: {
    dns: { prefix: '10.77.9.53/32', role: 'dns', communities: [] },
    edge: { prefix: '10.77.9.80/32', role: 'edge', communities: [], zones: ['sh-b'] },
  },
  zones: {
    'sh-a': {
      routerId: '10.77.0.11',
      port: 179,
      neighbors: [{ address: '10.77.0.2', as: 65000, port: 179 }],
      prepend: 0,
    },
    'sh-b': {
      routerId: '10.77.0.12',
      port: 179,
      neighbors: [{ address: '10.77.0.2', as: 65000, port: 179 }],
      prepend: 1,
    },
  },
  onDown: 'withdraw',
  downPrepend: 4,
  riseMs: 3_000,
  checkMs: 500,
  withdrawGraceMs: 2_000,
  bgp: { holdTimeS: 9, keepaliveS: 3, connectRetryS: 5 },
  bird: { bin: 'bird', birdc: 'birdc', dir: '/nonexistent' },
  ...o,
});

/** An announcer of sh-a on a manual clock, with inputs the test flips. */
async function setup(cfg = config()) {
  const clock = new ManualClock(0);
  const speaker = new RecordingSpeaker();
  const world = { healthy: true, lease: true, failedOver: false };
  const a = new Announcer({
    zone: 'sh-a',
    config: cfg,
    clock,
    speaker,
    inputs: {
      healthy: (role) => (role === 'dns' ? world.healthy : false),
      leaseHeld: () => world.lease,
      failedOver: () => world.failedOver,
    },
  });
  await a.start();
  /** Moves time on, letting each tick's applied plan settle. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(Math.min(100, ms - t));
      await a.tick();
    }
  };
  return { a, clock, speaker, world, advance };
}

const action = (a: Announcer) => a.state().prefixes.map((p) => `${p.name}:${p.action}/${p.reason}`);

test('anycast/announcer: a zone announces only the prefixes listing it, after rise', async () => {
  const { a, speaker, advance } = await setup();
  assert.deepEqual(action(a), ['dns:withdraw/rising']);
  await advance(2_900);
  assert.equal(speaker.carried.length, 0);
  await advance(200);
  assert.deepEqual(action(a), ['dns:announce/healthy']);
  assert.deepEqual(speaker.carried, [{ name: 'dns', prefix: '10.77.9.53/32', action: 'announce' }]);
  assert.deepEqual(
    a.state().sessions.map((s) => s.established),
    [true],
  );
  assert.deepEqual(speaker.log, ['start', 'apply dns=announce']);
  await a.stop();
});

test('anycast/announcer: health flaps withdraw at once and wait rise to come back', async () => {
  const { a, speaker, world, advance } = await setup();
  await advance(3_000);
  assert.equal(speaker.carried.length, 1);
  world.healthy = false;
  await advance(100);
  assert.deepEqual(action(a), ['dns:withdraw/unhealthy']);
  assert.equal(speaker.carried.length, 0);
  world.healthy = true;
  await advance(1_000);
  world.healthy = false; // flaps again mid-rise
  await advance(100);
  world.healthy = true;
  await advance(2_900);
  assert.equal(speaker.carried.length, 0, 'the rise started over at the flap');
  await advance(200);
  assert.equal(speaker.carried.length, 1);
  assert.deepEqual(speaker.log, ['start', 'apply dns=announce', 'apply dns=withdraw', 'apply dns=announce']);
  await a.stop();
});

test('anycast/announcer: lease loss and a planned failover withdraw; an operator drain too, until undrained', async () => {
  const { a, speaker, world, advance } = await setup(config({ riseMs: 0 }));
  assert.equal(speaker.carried.length, 1);
  world.lease = false;
  await advance(500);
  assert.deepEqual(action(a), ['dns:withdraw/lease-lost']);
  world.lease = true;
  await advance(500);
  world.failedOver = true;
  await advance(500);
  assert.deepEqual(action(a), ['dns:withdraw/draining']);
  world.failedOver = false;
  await advance(500);
  assert.equal(speaker.carried.length, 1);
  await a.drain(true);
  assert.deepEqual(action(a), ['dns:withdraw/draining']);
  assert.equal(a.state().drained, true);
  await advance(5_000);
  assert.equal(speaker.carried.length, 0, 'a drain holds');
  await a.drain(false);
  assert.deepEqual(action(a), ['dns:announce/healthy']);
  await a.stop();
});

test('anycast/announcer: onDown prepend keeps an unhealthy zone announced, prepended', async () => {
  const { a, speaker, world, advance } = await setup(config({ riseMs: 0, onDown: 'prepend', withdrawGraceMs: 0 }));
  world.healthy = false;
  await advance(500);
  assert.deepEqual(speaker.carried, [{ name: 'dns', prefix: '10.77.9.53/32', action: 'prepend' }]);
  await a.withdrawAll();
  assert.equal(speaker.carried.length, 0, 'shutdown withdraws even with onDown: prepend');
  await a.stop();
});

test('anycast/announcer: shutdown withdraws first, waits the grace, and only stop() ends the speaker', async () => {
  const { a, clock, speaker, advance } = await setup(config({ riseMs: 0 }));
  await advance(500);
  const order: string[] = [];
  let graceOver = false;
  const shutdown = a.withdrawAll().then(() => {
    graceOver = true;
    order.push('listeners close');
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(speaker.carried.length, 0, 'withdrawn before the grace starts');
  assert.deepEqual(action(a), ['dns:withdraw/shutdown']);
  clock.advance(1_999);
  await new Promise((r) => setImmediate(r));
  assert.equal(graceOver, false, 'the listeners wait withdrawGraceMs');
  clock.advance(1);
  await shutdown;
  await advance(5_000);
  assert.equal(speaker.carried.length, 0, 'no tick announces again after shutdown began');
  await a.stop();
  order.push('speaker stopped');
  assert.deepEqual(order, ['listeners close', 'speaker stopped']);
  assert.deepEqual(speaker.log.slice(-2), ['apply dns=withdraw', 'stop']);
});

test('anycast/announcer: a failing speaker is reported and retried on the next tick', async () => {
  const { a, speaker, advance } = await setup(config({ riseMs: 0 }));
  speaker.failApply = true;
  await a.drain(true);
  assert.equal(a.state().error?.code, 'ERR_ANYCAST_BIRDC_UNREACHABLE');
  speaker.failApply = false;
  await advance(500);
  assert.equal(a.state().error, null);
  assert.equal(speaker.carried.length, 0);
  await a.stop();
});
