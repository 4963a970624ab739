// npm run bench -- steering
// Geo lookup + the full steering chain, next to a bare ip2region lookup, on one core.
// Input: a fixed, seeded table of 10 000 public IPv4 addresses (about a third in China).
import { createRequire } from 'node:module';
import { bench, run, summary } from 'mitata';
import { seededRandom } from '../../src/core/random.ts';
import { CachedGeoDb, Ip2RegionGeoDb } from '../../src/geo/index.ts';
import { createSteering, MutableSteeringState } from '../../src/steering/index.ts';
import { loadTopology } from '../../src/topology/index.ts';

const require = createRequire(import.meta.url);
const IP2Region = require('ip2region').default;
const bare = new IP2Region({ disableIpv6: true });

const r = seededRandom(7);
const cnPrefixes = [
  1, 14, 27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,
  123, 124, 125, 171, 175, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222, 223,
];
const ips: string[] = [];
for (let i = 0; i < 10_000; i++) {
  const a = i % 3 === 0 ? cnPrefixes[r.int(cnPrefixes.length)]! : 1 + r.int(222);
  ips.push(`${a}.${r.int(256)}.${r.int(256)}.${1 + r.int(254)}`);
}

const topology = loadTopology();
const state = new MutableSteeringState();
state.setUp('gz-a/edge', false); // a realistic state: one zone down
state.setLoad('bj-a', 1100); // and one over capacity
const geo = new Ip2RegionGeoDb();
const steering = createSteering({ topology, geo, random: seededRandom(1), state });
const cached = createSteering({ topology, geo: new CachedGeoDb(new Ip2RegionGeoDb()), random: seededRandom(1), state });

let i = 0;
let sink = 0;
summary(() => {
  bench('ip2region package search (bare lookup)', () => {
    sink += bare.search(ips[i++ % ips.length]!)?.province.length ?? 0;
  });
  bench('multizone geo lookup', () => {
    sink += geo.lookup(ips[i++ % ips.length]!).prefix;
  });
  bench('geo + full steering chain (decision)', () => {
    sink += steering.decide({ service: 'api.shop.test', client: ips[i++ % ips.length]! }, state).endpoints.length;
  });
  bench('decision with the geo LRU warm', () => {
    sink += cached.decide({ service: 'api.shop.test', client: ips[i++ % ips.length]! }, state).endpoints.length;
  });
});

const res = await run({ colors: false });
const avg = (name: string) => {
  const b = res.benchmarks.find((x) => x.alias === name);
  return b?.runs[0]?.stats?.avg ?? Number.NaN;
};
const bareNs = avg('ip2region package search (bare lookup)');
const decNs = avg('geo + full steering chain (decision)');
const warmNs = avg('decision with the geo LRU warm');
console.log(`\nnode ${process.version}`);
console.log(
  `bare ip2region lookup      ${(bareNs / 1000).toFixed(2)} µs  (${Math.round(1e9 / bareNs).toLocaleString()} /s)`,
);
console.log(
  `steering decision          ${(decNs / 1000).toFixed(2)} µs  (${Math.round(1e9 / decNs).toLocaleString()} decisions/s)`,
);
console.log(
  `decision, geo LRU warm     ${(warmNs / 1000).toFixed(2)} µs  (${Math.round(1e9 / warmNs).toLocaleString()} decisions/s)`,
);
console.log(`ratio decision / bare lookup = ${(decNs / bareNs).toFixed(2)}  (goal ≤ 2.0; decision goal < 5 µs)`);
if (sink === -1) console.log(sink);
