// How long steering keeps answering a dead edge, and how long a restarted one waits, with the
// system clock and real servers: four zones' edges on 127.0.N.1, every zone probing every edge.
// `npm run bench -- health [--quick]` (--quick: only the 200 ms config).
import { createServer, type Server } from 'node:http';
import { systemClock } from '../../src/core/clock.ts';
import { closeServer, listenOn } from '../../src/core/listen.ts';
import { TableGeoDb } from '../../src/geo/index.ts';
import { createHealthChecker } from '../../src/health/index.ts';
import { createSteering, MutableSteeringState } from '../../src/steering/index.ts';
import { parseTopology } from '../../src/topology/index.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const quick = process.argv.includes('--quick');
const configs = [
  { intervalMs: 200, timeoutMs: 100, rise: 2, fall: 3, runs: 5 },
  ...(quick ? [] : [{ intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, runs: 3 }]),
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main() {
  const servers: (Server | null)[] = [];
  const ports: number[] = [];
  const start = async (i: number) => {
    const s = createServer((_req, res) => res.writeHead(200).end('ok'));
    ports[i] = (await listenOn(s, `127.0.${i + 1}.1`, ports[i] ?? 0, 'edge')).port;
    servers[i] = s;
  };
  for (const i of ZONES.keys()) await start(i);

  for (const cfg of configs) {
    const topology = parseTopology(`apex: shop.test
regions: { east: {}, north: {}, south: {} }
zones:
${ZONES.map((z, i) => `  ${z}: { region: ${['east', 'east', 'north', 'south'][i]}, core: ${i === 0}, listen: { edge: 127.0.${i + 1}.1:${ports[i]} } }`).join('\n')}
services:
  api.shop.test: { role: edge }
policies:
  nearest:
    rules: [{ name: north, provinces: [CN-BJ], zones: [bj-a, [sh-a, sh-b], gz-a] }]
    default: [[sh-a, sh-b], bj-a, gz-a]
health: { intervalMs: ${cfg.intervalMs}, timeoutMs: ${cfg.timeoutMs}, rise: ${cfg.rise}, fall: ${cfg.fall} }
`);
    const state = new MutableSteeringState();
    const steering = createSteering({
      topology,
      geo: new TableGeoDb([{ cidr: '10.1.0.0/16', country: 'CN', province: 'CN-BJ' }]),
      state,
    });
    const answersBj = () =>
      steering.decide({ service: 'api.shop.test', client: '10.1.2.3' }).endpoints[0]?.zone === 'bj-a';
    const checker = createHealthChecker({ topology, state });
    checker.start();
    const until = async (cond: () => boolean) => {
      const t0 = systemClock.now();
      while (!cond()) {
        if (systemClock.now() - t0 > 60_000) throw new Error('no verdict change within 60 s');
        await systemClock.sleep(5);
      }
      return systemClock.now() - t0;
    };
    await until(() => checker.verdicts().every((v) => Object.values(v.votes).every((x) => x.state === 'up')));
    const down: number[] = [];
    const up: number[] = [];
    for (let r = 0; r < cfg.runs; r++) {
      // stop at a different point of the probe cycle each run
      await systemClock.sleep((cfg.intervalMs * r) / cfg.runs);
      const t0 = systemClock.now();
      await closeServer(servers[2]!);
      await until(() => !answersBj());
      down.push(systemClock.now() - t0);
      const t1 = systemClock.now();
      await start(2);
      await until(answersBj);
      up.push(systemClock.now() - t1);
    }
    await checker.stop();
    const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
    console.log(
      `interval ${cfg.intervalMs} ms, fall ${cfg.fall}, rise ${cfg.rise}, 4 probers × 4 edges, ${cfg.runs} runs:\n` +
        `  dead → not answered: median ${f(median(down))}, max ${f(Math.max(...down))} (bound interval×fall+interval = ${f(cfg.intervalMs * (cfg.fall + 1))})\n` +
        `  back → answered:     median ${f(median(up))}, max ${f(Math.max(...up))} (bound interval×rise+interval = ${f(cfg.intervalMs * (cfg.rise + 1))})`,
    );
  }
  for (const s of servers) if (s) await closeServer(s);
}

await main();
