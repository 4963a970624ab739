import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { type Clock, ManualClock, systemClock } from '../../../src/core/clock.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { TableGeoDb } from '../../../src/geo/index.ts';
import { createHealthChecker, type FaultHook, type HealthChecker } from '../../../src/health/index.ts';
import { createSteering, MutableSteeringState } from '../../../src/steering/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'] as const;
type ZoneName = (typeof ZONES)[number];

/** A zone's edge: a small HTTP server that can be stopped and restarted on the same port. */
class Edge {
  server: Server | null = null;
  seen: string[] = [];
  port = 0;
  constructor(readonly host: string) {}
  async start(): Promise<void> {
    const s = createServer((req, res) => {
      this.seen.push(req.socket.remoteAddress ?? '');
      res.writeHead(200).end('ok');
    });
    const a = await listenOn(s, this.host, this.port, 'edge');
    this.port = a.port;
    this.server = s;
  }
  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
    this.server = null;
  }
}

const all: Edge[] = [];
const checkers: HealthChecker[] = [];
after(async () => {
  for (const c of checkers) await c.stop();
  for (const e of all) await e.stop();
});

async function cluster(opts: { clock: Clock; health: string; perZoneLoopback?: boolean; fault?: FaultHook }) {
  const edges = {} as Record<ZoneName, Edge>;
  for (const [i, z] of ZONES.entries()) {
    const e = new Edge(opts.perZoneLoopback ? `127.0.${i + 1}.1` : '127.0.0.1');
    await e.start();
    all.push(e);
    edges[z] = e;
  }
  const topology = parseTopology(`name: t
apex: shop.test
regions: { east: {}, north: {}, south: {} }
zones:
${ZONES.map(
  (z, i) => `  ${z}:
    region: ${['east', 'east', 'north', 'south'][i]}
    core: ${i === 0}
    listen: { edge: ${edges[z].host}:${edges[z].port} }`,
).join('\n')}
services:
  api.shop.test: { role: edge, ttl: 60, policy: nearest }
policies:
  nearest:
    rules:
      - { name: north, provinces: [CN-BJ], zones: [bj-a, [sh-a, sh-b], gz-a] }
    default: [[sh-a, sh-b], bj-a, gz-a]
health: ${opts.health}
`);
  const state = new MutableSteeringState();
  const checker = createHealthChecker({ topology, clock: opts.clock, state, fault: opts.fault });
  checkers.push(checker);
  const geo = new TableGeoDb([{ cidr: '10.1.0.0/16', country: 'CN', province: 'CN-BJ' }]);
  const steering = createSteering({ topology, geo, state });
  const answer = () => steering.decide({ service: 'api.shop.test', client: '10.1.2.3' }).endpoints.map((e) => e.zone);
  return { edges, checker, steering, answer, state };
}

describe('health feeding steering, real servers', () => {
  it('health: a stopped edge leaves the answer within interval × fall + one interval, and returns after rise', async () => {
    const clock = new ManualClock();
    const c = await cluster({ clock, health: '{ intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 }' });
    /** Moves manual time in small steps, letting every probe that started finish on the real network. */
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += 50) {
        clock.advance(50);
        await c.checker.settle();
      }
    };
    c.checker.start();
    await run(3000);
    assert.equal(c.answer()[0], 'bj-a');
    assert.ok(c.checker.verdicts().every((v) => Object.values(v.votes).every((x) => x.state === 'up')));

    await c.edges['bj-a'].stop();
    await run(2000); // fall - 1 intervals: not yet
    assert.equal(c.answer()[0], 'bj-a');
    await run(2000); // fall intervals + one
    assert.ok(!c.answer().includes('bj-a'), `still answered: ${c.answer()}`);
    const v = c.checker.verdict('bj-a/edge')!;
    assert.equal(v.up, false);
    assert.equal(v.votes['gz-a']!.lastError?.code, 'ERR_HEALTH_PROBE_CONNECT');

    await c.edges['bj-a'].start(); // same port
    await run(1000); // rise - 1 intervals: not yet
    assert.ok(!c.answer().includes('bj-a'));
    await run(2000); // rise intervals + one
    assert.equal(c.answer()[0], 'bj-a');
    assert.equal(c.checker.verdict('bj-a/edge')!.changes, 2);
    await c.checker.stop();
  });

  it('health: with the system clock and short intervals, steering follows a stop and a restart', async () => {
    // every check waits for its condition: on a loaded machine an event-loop stall can make
    // probes time out, so no single moment is asserted, only where the verdicts end up
    const c = await cluster({ clock: systemClock, health: '{ intervalMs: 150, timeoutMs: 140, rise: 2, fall: 2 }' });
    c.checker.start();
    const waitFor = async (cond: () => boolean) => {
      for (let i = 0; i < 800 && !cond(); i++) await systemClock.sleep(10);
      return cond();
    };
    assert.ok(
      await waitFor(() => c.answer()[0] === 'bj-a' && c.checker.verdict('bj-a/edge')!.votes['sh-a']!.state === 'up'),
    );
    const bj = () => c.checker.verdict('bj-a/edge')!;
    await c.edges['bj-a'].stop();
    // its own verdict down, not only out of the answer (a moment when other zones' probes time
    // out too can move the answer on its own)
    assert.ok(await waitFor(() => !bj().up && !c.answer().includes('bj-a')), 'bj-a never left the answer');
    assert.equal(bj().votes['gz-a']!.lastResult, 'fail');
    await c.edges['bj-a'].start();
    assert.ok(await waitFor(() => bj().up && c.answer()[0] === 'bj-a'), 'bj-a never came back');
    assert.ok(bj().changes >= 2, `down and up again: ${bj().changes} changes`);
    await c.checker.stop();
  });

  it('health: a prober cut off from a zone does not take it down; probes leave from each zone address', async () => {
    const clock = new ManualClock();
    const c = await cluster({
      clock,
      perZoneLoopback: true,
      health: '{ intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 }',
      fault: (from, id) => (from === 'gz-a' && id === 'bj-a/edge' ? 'drop' : 'ok'),
    });
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += 50) {
        clock.advance(50);
        await c.checker.settle();
      }
    };
    c.checker.start();
    await run(6000);
    const v = c.checker.verdict('bj-a/edge')!;
    assert.equal(v.up, true);
    assert.equal(v.votes['gz-a']!.state, 'down');
    assert.equal(v.votes['gz-a']!.lastError?.code, 'ERR_HEALTH_PROBE_TIMEOUT');
    assert.equal(v.votes['sh-a']!.state, 'up');
    assert.equal(c.answer()[0], 'bj-a');
    assert.deepEqual([...new Set(c.edges['bj-a'].seen)].sort(), ['127.0.1.1', '127.0.2.1', '127.0.3.1']);
    assert.deepEqual([...new Set(c.edges['sh-b'].seen)].sort(), ['127.0.1.1', '127.0.2.1', '127.0.3.1', '127.0.4.1']);
    await c.checker.stop();
  });
});
