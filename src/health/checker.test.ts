import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { createMetrics } from '../core/metrics.ts';
import { TableGeoDb } from '../geo/index.ts';
import { createSteering, MutableSteeringState } from '../steering/index.ts';
import { parseTopology, type Topology } from '../topology/index.ts';
import { createHealthChecker } from './checker.ts';
import { healthErrors } from './errors.ts';
import type { FaultHook, HealthChangeEvent, ProbeFn } from './types.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];

function topo(roles: string[], health = 'health: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 }'): Topology {
  const zones = ZONES.map(
    (z, i) => `  ${z}:
    region: ${['east', 'east', 'north', 'south'][i]}
    core: ${i === 0}
    listen:
${roles.map((r) => `      ${r}: 127.0.0.1:${20000 + i * 10 + roles.indexOf(r)}`).join('\n')}`,
  ).join('\n');
  return parseTopology(`name: t
apex: shop.test
regions: { east: {}, north: {}, south: {} }
zones:
${zones}
services:
  api.shop.test: { role: ${roles.includes('edge') ? 'edge' : roles[0]}, ttl: 60, policy: nearest }
policies:
  nearest:
    rules:
      - { name: north, provinces: [CN-BJ], zones: [bj-a, [sh-a, sh-b], gz-a] }
    default: [[sh-a, sh-b], bj-a, gz-a]
${health}
`);
}

/** A fake network: endpoints in `dead` refuse at once, in `hang` never answer. */
function fakeNet() {
  const dead = new Set<string>();
  const hang = new Set<string>();
  const calls: { from: string | undefined; id: string }[] = [];
  const probe: ProbeFn = async (req) => {
    calls.push({ from: req.localAddress, id: req.target.id });
    if (hang.has(req.target.id)) return new Promise(() => {});
    if (dead.has(req.target.id)) throw healthErrors.ERR_HEALTH_PROBE_CONNECT(`${req.target.id}: ECONNREFUSED`);
  };
  return { dead, hang, calls, probe };
}

function setup(opts: { roles?: string[]; health?: string; fault?: FaultHook } = {}) {
  const topology = topo(opts.roles ?? ['edge'], opts.health);
  const clock = new ManualClock();
  const net = fakeNet();
  const state = new MutableSteeringState();
  const metrics = createMetrics();
  const checker = createHealthChecker({ topology, clock, state, metrics, probe: net.probe, fault: opts.fault });
  const geo = new TableGeoDb([{ cidr: '10.1.0.0/16', country: 'CN', province: 'CN-BJ' }]);
  const steering = createSteering({ topology, geo, state });
  const answered = () => steering.decide({ service: 'api.shop.test', client: '10.1.2.3' }).endpoints.map((e) => e.zone);
  const events: (HealthChangeEvent & { now: number })[] = [];
  checker.onChange((e) => events.push({ ...e, now: clock.now() }));
  return { topology, clock, net, state, metrics, checker, steering, answered, events };
}

describe('health checker', () => {
  it('health: an endpoint that dies is down within interval × fall + one interval, and steering drops it', async () => {
    const t = setup();
    t.checker.start();
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.answered()[0], 'bj-a');
    assert.equal(t.events.length, 0);

    const died = t.clock.now();
    t.net.dead.add('bj-a/edge');
    // after fall-1 intervals no prober can have seen `fall` failures yet
    await t.clock.advanceAsync(2 * 1000, 10);
    assert.equal(t.checker.verdict('bj-a/edge')!.up, true);
    assert.equal(t.answered()[0], 'bj-a');

    await t.clock.advanceAsync(2 * 1000, 10);
    assert.equal(t.checker.verdict('bj-a/edge')!.up, false);
    assert.equal(t.state.isUp('bj-a/edge'), false);
    assert.ok(!t.answered().includes('bj-a'));
    assert.equal(t.events.length, 1);
    assert.deepEqual(
      { id: t.events[0]!.endpointId, zone: t.events[0]!.zone, role: t.events[0]!.role, up: t.events[0]!.up },
      { id: 'bj-a/edge', zone: 'bj-a', role: 'edge', up: false },
    );
    assert.ok(t.events[0]!.now - died <= 1000 * 3 + 1000);
    const v = t.checker.verdict('bj-a/edge')!;
    for (const z of ZONES) {
      assert.equal(v.votes[z]!.lastResult, 'fail');
      assert.equal(v.votes[z]!.lastError?.code, 'ERR_HEALTH_PROBE_CONNECT');
    }
    await t.checker.stop();
  });

  it('health: a restarted endpoint is answered again after rise successes, not before', async () => {
    const t = setup();
    t.net.dead.add('bj-a/edge');
    t.checker.start();
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.checker.verdict('bj-a/edge')!.up, false);
    assert.ok(!t.answered().includes('bj-a'));

    const back = t.clock.now();
    t.net.dead.delete('bj-a/edge');
    await t.clock.advanceAsync(1000, 10); // rise - 1 intervals
    assert.equal(t.checker.verdict('bj-a/edge')!.up, false);
    await t.clock.advanceAsync(2000, 10); // by rise intervals + one
    assert.equal(t.checker.verdict('bj-a/edge')!.up, true);
    assert.equal(t.answered()[0], 'bj-a');
    const upEvent = t.events.at(-1)!;
    assert.equal(upEvent.up, true);
    assert.ok(upEvent.now - back <= 1000 * 2 + 1000);
    await t.checker.stop();
  });

  it('health: a zone cut off from one prober is not declared dead (majority of probers)', async () => {
    const cut = new Set(['bj-a→sh-a/edge']);
    const t = setup({ fault: (from, id) => (cut.has(`${from}→${id}`) ? 'drop' : 'ok') });
    t.checker.start();
    await t.clock.advanceAsync(8000, 10);
    const v = t.checker.verdict('sh-a/edge')!;
    assert.equal(v.up, true);
    assert.equal(v.votes['bj-a']!.state, 'down');
    assert.equal(v.votes['bj-a']!.lastError?.code, 'ERR_HEALTH_PROBE_TIMEOUT');
    assert.equal(v.votes['sh-b']!.state, 'up');
    assert.equal(t.checker.quorum(), 3);

    // two of four is a tie: the previous verdict (up) stays
    cut.add('gz-a→sh-a/edge');
    await t.clock.advanceAsync(8000, 10);
    assert.equal(t.checker.verdict('sh-a/edge')!.up, true);

    // three of four is a majority
    cut.add('sh-b→sh-a/edge');
    await t.clock.advanceAsync(8000, 10);
    assert.equal(t.checker.verdict('sh-a/edge')!.up, false);
    assert.equal(t.state.isUp('sh-a/edge'), false);
    await t.checker.stop();
  });

  it('health: a probe that never answers fails with a timeout after timeoutMs', async () => {
    const t = setup();
    t.net.hang.add('gz-a/edge');
    t.checker.start();
    // probes start staggered within the first interval, then wait timeoutMs
    await t.clock.advanceAsync(1500, 10);
    const v = t.checker.verdict('gz-a/edge')!;
    for (const z of ZONES) {
      assert.equal(v.votes[z]!.lastError?.code, 'ERR_HEALTH_PROBE_TIMEOUT');
      assert.equal(v.votes[z]!.lastRttMs, 500);
    }
    await t.clock.advanceAsync(3500, 10);
    assert.equal(t.checker.verdict('gz-a/edge')!.up, false);
    await t.checker.stop();
  });

  it('health: an endpoint failing every other probe never goes down (hysteresis)', async () => {
    const t = setup();
    let n = 0;
    const seen = new Map<string, number>();
    const flaky: ProbeFn = async (req) => {
      n++;
      const key = `${req.prober}|${req.target.id}`;
      const k = (seen.get(key) ?? 0) + 1;
      seen.set(key, k);
      if (k % 2 === 0) throw healthErrors.ERR_HEALTH_PROBE_CONNECT('flaky');
    };
    const checker = createHealthChecker({ topology: t.topology, clock: t.clock, state: t.state, probe: flaky });
    checker.start();
    await t.clock.advanceAsync(20_000, 10);
    assert.ok(n > 100);
    assert.ok(checker.verdicts().every((v) => v.up && v.changes === 0));
    await checker.stop();
    await t.checker.stop();
  });

  it('health: the zone verdict follows its router, not its other roles', async () => {
    const t = setup({ roles: ['edge', 'router', 'app'] });
    const zoneEvents: [string, boolean][] = [];
    t.checker.onZoneChange((z, up) => zoneEvents.push([z, up]));
    t.checker.start();
    await t.clock.advanceAsync(3000, 10);
    t.net.dead.add('sh-b/edge');
    t.net.dead.add('sh-b/app');
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.checker.verdict('sh-b/edge')!.up, false);
    assert.equal(t.checker.zoneUp('sh-b'), true);
    assert.deepEqual(zoneEvents, []);

    t.net.dead.add('gz-a/router');
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.checker.zoneUp('gz-a'), false);
    assert.deepEqual(zoneEvents, [['gz-a', false]]);
    // a dead zone gets no traffic: its edge is alive but steering no longer answers it
    assert.equal(t.checker.verdict('gz-a/edge')!.up, true);
    assert.equal(t.checker.verdict('gz-a/edge')!.answered, false);
    assert.equal(t.state.isUp('gz-a/edge'), false);
    assert.equal(t.state.isUp('gz-a/router'), false);
    // sh-b's own edge is down, its zone is not: only that endpoint is out
    assert.equal(t.state.isUp('sh-b/edge'), false);
    assert.equal(t.state.isUp('sh-b/router'), true);
    assert.deepEqual(
      t.checker.zones().map((z) => [z.zone, z.up, z.keyEndpoint]),
      [
        ['sh-a', true, 'sh-a/router'],
        ['sh-b', true, 'sh-b/router'],
        ['bj-a', true, 'bj-a/router'],
        ['gz-a', false, 'gz-a/router'],
      ],
    );
    assert.throws(() => t.checker.zoneUp('nowhere'), { code: 'ERR_TOPOLOGY_UNKNOWN_ZONE' });
    t.net.dead.delete('gz-a/router');
    await t.clock.advanceAsync(4000, 10);
    assert.equal(t.state.isUp('gz-a/edge'), true);
    assert.equal(t.checker.verdict('gz-a/edge')!.answered, true);
    assert.deepEqual(zoneEvents, [
      ['gz-a', false],
      ['gz-a', true],
    ]);
    await t.checker.stop();
  });

  it('health: a zone without a router is judged by its app', async () => {
    const t = setup({ roles: ['edge', 'app'] });
    t.checker.start();
    await t.clock.advanceAsync(3000, 10);
    t.net.dead.add('bj-a/edge');
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.checker.zoneUp('bj-a'), true);
    t.net.dead.add('bj-a/app');
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.checker.zoneUp('bj-a'), false);
    await t.checker.stop();
  });

  it('health: metrics show verdicts, probe results and flips', async () => {
    const t = setup();
    t.net.dead.add('gz-a/edge');
    t.checker.start();
    await t.clock.advanceAsync(5000, 10);
    const text = await t.metrics.metrics();
    assert.match(text, /mz_health_endpoint_up\{endpoint="gz-a\/edge",zone="gz-a",role="edge"\} 0/);
    assert.match(text, /mz_health_endpoint_up\{endpoint="sh-a\/edge",zone="sh-a",role="edge"\} 1/);
    assert.match(text, /mz_health_verdict_changes_total\{to="down"\} 1/);
    assert.match(text, /mz_health_probes_total\{result="connect"\} \d+/);
    assert.match(text, /mz_health_probes_total\{result="ok"\} \d+/);
    assert.match(text, /mz_health_probe_duration_seconds_count\{role="edge"\} \d+/);
    await t.checker.stop();
  });

  it('health: listeners can unsubscribe, and a throwing listener does not stop the checker', async () => {
    const t = setup();
    const seen: string[] = [];
    t.checker.onChange(() => {
      throw new Error('consumer bug');
    });
    const off = t.checker.onChange((e) => seen.push(e.endpointId));
    t.checker.start();
    t.net.dead.add('sh-a/edge');
    await t.clock.advanceAsync(5000, 10);
    off();
    t.net.dead.add('sh-b/edge');
    await t.clock.advanceAsync(5000, 10);
    assert.deepEqual(seen, ['sh-a/edge']);
    assert.equal(t.checker.verdict('sh-b/edge')!.up, false);
    await t.checker.stop();
  });

  it('health: stop() ends probing', async () => {
    const t = setup();
    t.checker.start();
    await t.clock.advanceAsync(3000, 10);
    await t.checker.stop();
    const n = t.net.calls.length;
    assert.ok(n > 0);
    await t.clock.advanceAsync(5000, 10);
    assert.equal(t.net.calls.length, n);
  });

  it('health: every prober probes every endpoint once per interval', async () => {
    const t = setup();
    t.checker.start();
    await t.clock.advanceAsync(9999, 10);
    const per = new Map<string, number>();
    for (const c of t.net.calls) per.set(c.id, (per.get(c.id) ?? 0) + 1);
    // 4 endpoints × 4 probers × 10 intervals
    for (const z of ZONES) assert.equal(per.get(`${z}/edge`), 40);
    await t.checker.stop();
  });

  it('health: impossible options are refused at creation', () => {
    const topology = topo(['edge']);
    assert.throws(
      () =>
        createHealthChecker({
          topology,
          config: { ...topology.config.health, timeoutMs: 2000, intervalMs: 1000 },
        }),
      { code: 'ERR_HEALTH_INVALID_OPTION' },
    );
    assert.throws(() => createHealthChecker({ topology, config: { ...topology.config.health, quorum: 5 } }), {
      code: 'ERR_HEALTH_INVALID_OPTION',
    });
    assert.throws(() => createHealthChecker({ topology, probers: ['mars'] }), { code: 'ERR_TOPOLOGY_UNKNOWN_ZONE' });
  });

  it('health: with one prober (distributed mode) its own vote is the quorum', async () => {
    const topology = topo(['edge']);
    const clock = new ManualClock();
    const net = fakeNet();
    const checker = createHealthChecker({ topology, clock, probe: net.probe, probers: ['gz-a'] });
    assert.equal(checker.quorum(), 1);
    checker.start();
    net.dead.add('sh-a/edge');
    await clock.advanceAsync(4000, 10);
    assert.equal(checker.verdict('sh-a/edge')!.up, false);
    assert.deepEqual(Object.keys(checker.verdict('sh-a/edge')!.votes), ['gz-a']);
    await checker.stop();
  });

  it('health: probers split over two processes share votes and reach the quorum together', async () => {
    const topology = topo(['edge']);
    const clock = new ManualClock();
    const net = fakeNet();
    const a = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['sh-a', 'sh-b'],
      remoteProbers: ['bj-a', 'gz-a'],
    });
    const b = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['bj-a', 'gz-a'],
      remoteProbers: ['sh-a', 'sh-b'],
    });
    const alone = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['sh-a', 'sh-b'],
      remoteProbers: ['bj-a', 'gz-a'],
    });
    a.onVote((e) => b.applyRemoteVote(e.prober, e.endpointId, e.state));
    b.onVote((e) => a.applyRemoteVote(e.prober, e.endpointId, e.state));
    assert.equal(a.quorum(), 3);
    assert.deepEqual(a.probers(), ['sh-a', 'sh-b', 'bj-a', 'gz-a']);
    for (const c of [a, b, alone]) c.start();
    await clock.advanceAsync(3000, 10);
    net.dead.add('gz-a/edge');
    await clock.advanceAsync(4000, 10);
    assert.equal(a.verdict('gz-a/edge')!.up, false);
    assert.equal(b.verdict('gz-a/edge')!.up, false);
    assert.equal(a.verdict('gz-a/edge')!.votes['bj-a']!.remote, true);
    assert.equal(a.verdict('gz-a/edge')!.votes['bj-a']!.state, 'down');
    // two local votes of four are no quorum: without the shared votes the verdict holds
    assert.equal(alone.verdict('gz-a/edge')!.up, true);
    for (const c of [a, b, alone]) await c.stop();
  });

  it('health: a remote vote nobody refreshes goes stale and stops counting', async () => {
    const topology = topo(['edge']);
    const clock = new ManualClock();
    const net = fakeNet();
    const a = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['sh-a', 'sh-b'],
      remoteProbers: ['bj-a', 'gz-a'],
      remoteStaleMs: 5000,
    });
    a.start();
    a.applyRemoteVote('bj-a', 'sh-a/edge', 'down');
    a.applyRemoteVote('mars', 'sh-a/edge', 'down'); // not a remote prober: ignored
    a.applyRemoteVote('bj-a', 'nowhere/edge', 'down'); // not an endpoint: ignored
    assert.equal(a.verdict('sh-a/edge')!.votes['bj-a']!.state, 'down');
    await clock.advanceAsync(4000, 10);
    assert.equal(a.verdict('sh-a/edge')!.votes['bj-a']!.state, 'down');
    await clock.advanceAsync(3000, 10);
    assert.equal(a.verdict('sh-a/edge')!.votes['bj-a']!.state, 'unknown');
    await a.stop();
  });

  it('health: a remote vote counts by the time it was cast: stale on arrival, replays and older votes change nothing', async () => {
    const topology = topo(['edge']);
    const clock = new ManualClock();
    const net = fakeNet();
    const a = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['sh-a', 'sh-b'],
      remoteProbers: ['bj-a', 'gz-a'],
      remoteStaleMs: 5000,
    });
    const state = (p: string) => a.verdict('sh-a/edge')!.votes[p]!.state;
    a.start();
    const t0 = clock.wallTime();
    a.applyRemoteVote('bj-a', 'sh-a/edge', 'down', t0);
    assert.equal(state('bj-a'), 'down');
    assert.equal(a.verdict('sh-a/edge')!.votes['bj-a']!.lastProbeAt, t0);
    await clock.advanceAsync(6000, 10);
    assert.equal(state('bj-a'), 'unknown');
    // the same vote delivered again (a re-delivery, a replay after a healed partition): still stale
    a.applyRemoteVote('bj-a', 'sh-a/edge', 'down', t0);
    assert.equal(state('bj-a'), 'unknown');
    // a vote cast before the one held is ignored, even if it would be fresh
    const t1 = clock.wallTime();
    a.applyRemoteVote('bj-a', 'sh-a/edge', 'up', t1);
    a.applyRemoteVote('bj-a', 'sh-a/edge', 'down', t1 - 1000);
    assert.equal(state('bj-a'), 'up');
    // already stale on arrival: unknown, never up or down
    a.applyRemoteVote('gz-a', 'sh-a/edge', 'up', clock.wallTime() - 5001);
    assert.equal(state('gz-a'), 'unknown');
    // cast further in the future than the stale bound: the sender's clock is off, ignored
    a.applyRemoteVote('gz-a', 'sh-a/edge', 'down', clock.wallTime() + 5001);
    assert.equal(state('gz-a'), 'unknown');
    a.applyRemoteVote('gz-a', 'sh-a/edge', 'down', clock.wallTime() - 1000);
    assert.equal(state('gz-a'), 'down');
    // the sweeper goes by the cast time too: 1 s old on arrival, stale 4 s later
    await clock.advanceAsync(3500, 10);
    assert.equal(state('gz-a'), 'down');
    await clock.advanceAsync(1500, 10);
    assert.equal(state('gz-a'), 'unknown');
    await a.stop();
  });

  it('health: stale remote votes count neither up nor down: the live votes decide alone', async () => {
    const topology = topo(['edge'], 'health: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3, quorum: 2 }');
    const clock = new ManualClock();
    const net = fakeNet();
    const a = createHealthChecker({
      topology,
      clock,
      probe: net.probe,
      probers: ['sh-a', 'bj-a'],
      remoteProbers: ['sh-b', 'gz-a'],
      remoteStaleMs: 5000,
    });
    a.start();
    await clock.advanceAsync(3000, 10);
    // the two dead processes' last votes: "up", cast before they died
    const cast = clock.wallTime();
    for (const p of ['sh-b', 'gz-a']) a.applyRemoteVote(p, 'gz-a/edge', 'up', cast);
    net.dead.add('gz-a/edge');
    await clock.advanceAsync(4000, 10);
    assert.equal(a.verdict('gz-a/edge')!.up, true, 'two down, two up: a tie holds');
    await clock.advanceAsync(2000, 10);
    assert.equal(a.verdict('gz-a/edge')!.votes['gz-a']!.state, 'unknown');
    assert.equal(a.verdict('gz-a/edge')!.up, false, 'two down of two counted: the quorum of 2');
    await a.stop();
  });

  it('health: a timeout that fires late (our own loop was stalled) counts neither way', async () => {
    const topology = topo(['edge'], 'health: { intervalMs: 1000, timeoutMs: 450, rise: 2, fall: 3 }');
    const manual = new ManualClock();
    // every 450 ms timer (the probe timeout) fires 300 ms late, as after a blocked event loop
    const late = Object.assign(Object.create(manual) as ManualClock, {
      setTimer: (ms: number, fn: () => void) => manual.setTimer(ms === 450 ? 750 : ms, fn),
    });
    const net = fakeNet();
    net.hang.add('gz-a/edge');
    const metrics = createMetrics();
    const checker = createHealthChecker({ topology, clock: late, probe: net.probe, metrics });
    checker.start();
    await manual.advanceAsync(8000, 10);
    const v = checker.verdict('gz-a/edge')!;
    assert.equal(v.up, true);
    for (const z of ZONES) {
      assert.equal(v.votes[z]!.state, 'unknown');
      assert.equal(v.votes[z]!.failures, 0);
      assert.ok(v.votes[z]!.stalled >= 5);
    }
    assert.equal(checker.verdict('sh-a/edge')!.votes['sh-a']!.state, 'up');
    assert.match(await metrics.metrics(), /mz_health_probes_total\{result="stalled"\} [1-9]/);
    await checker.stop();
  });

  it('health: a probe function that throws synchronously is a failed probe, and probing goes on', async () => {
    const t = setup();
    let calls = 0;
    const throwing: ProbeFn = (req) => {
      calls++;
      if (req.target.id === 'sh-b/edge') throw new TypeError('bad option');
      return Promise.resolve();
    };
    const checker = createHealthChecker({ topology: t.topology, clock: t.clock, probe: throwing });
    checker.start();
    await t.clock.advanceAsync(5000, 10);
    const v = checker.verdict('sh-b/edge')!;
    assert.equal(v.up, false);
    assert.equal(v.votes['sh-a']!.lastError?.code, 'ERR_HEALTH_PROBE_CONNECT');
    assert.ok(calls >= 4 * 4 * 5);
    await checker.stop();
  });
});
