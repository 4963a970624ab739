// Starts only our DNS server (default topology, real geo db) for the benchmark: `serve-ours.ts PORT [--no-cache]`.
// Prints "READY <port>" when listening; stops on SIGTERM.
import { systemClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { startDnsServer } from '../../src/dns/index.ts';
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
console.log(`READY ${server.port}`);
process.on('SIGTERM', () => {
  const s = server.handler.stats;
  console.log(
    `STATS packets=${s.packets} cacheHits=${s.cacheHits} cacheMisses=${s.cacheMisses} rejected=${s.rejectedTotal}`,
  );
  void server.close().then(() => process.exit(0));
});
