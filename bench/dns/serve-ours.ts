// Starts only our DNS server (default topology, real geo db) for the benchmark:
// `serve-ours.ts PORT [--no-cache] [--workers N]` (N processes on its sockets, as dns.workers).
// Prints "READY <port>" when listening; stops on SIGTERM.
import { systemClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createMetrics } from '../../src/core/metrics.ts';
import { DnsWorkers, startDnsServer } from '../../src/dns/index.ts';
import { defaultGeoDb } from '../../src/geo/index.ts';
import { createSteering, MutableSteeringState } from '../../src/steering/index.ts';
import { loadTopology } from '../../src/topology/index.ts';

const port = Number(process.argv[2] ?? 0);
const noCache = process.argv.includes('--no-cache');
const topology = loadTopology();
const state = new MutableSteeringState();
const steering = createSteering({ topology, geo: defaultGeoDb(), state });
const base = topology.config.dns;
// RRL stays on (its cost is part of the path) with a limit the load generator cannot reach from one source
const config = {
  ...base,
  cacheSize: noCache ? 0 : base.cacheSize,
  rrl: { ...base.rrl, responsesPerSecond: 1e9, burst: 1e9 },
};
const server = await startDnsServer({
  topology,
  host: '127.0.0.1',
  port,
  steering,
  state,
  clock: systemClock,
  logger: silentLogger,
  config,
  zone: 'bench',
});
const at = process.argv.indexOf('--workers');
const workers = at > 0 ? Number(process.argv[at + 1]) : 1;
if (workers > 1)
  await new DnsWorkers({
    zone: 'bench',
    topology,
    servers: [server],
    state,
    count: workers,
    config,
    clock: systemClock,
    logger: silentLogger,
    metrics: createMetrics(),
  }).start();
console.log(`READY ${server.port}`);
process.on('SIGTERM', () => {
  const s = server.handler.stats;
  console.log(
    `STATS packets=${s.packets} cacheHits=${s.cacheHits} cacheMisses=${s.cacheMisses} rejected=${s.rejectedTotal}`,
  );
  void server.close().then(() => process.exit(0));
});
