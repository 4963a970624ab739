// npm run bench -- dns (micro part): the DNS handler's hot paths without sockets, on one core.
// Input: the same per-query-ECS A queries as dns.bench.ts (4096 /24s, a quarter per region).

import dnsPacket from 'dns-packet';
import { bench, run, summary } from 'mitata';
import { createDnsHandler } from '../../src/dns/index.ts';
import { defaultGeoDb } from '../../src/geo/index.ts';
import { createSteering, MutableSteeringState } from '../../src/steering/index.ts';
import { loadTopology } from '../../src/topology/index.ts';
import { binaryQueries, pickSubnets } from './queries.ts';

const bin = binaryQueries(pickSubnets(1024), 20_000);
const queries: Buffer[] = [];
for (let o = 0; o < bin.length; ) {
  const len = bin.readUInt16BE(o);
  queries.push(Buffer.from(bin.subarray(o + 2, o + 2 + len)));
  o += 2 + len;
}
const topology = loadTopology();
const state = new MutableSteeringState();
const steering = createSteering({ topology, geo: defaultGeoDb(), state });
const base = topology.config.dns;
const rrl = { ...base.rrl, responsesPerSecond: 1e9, burst: 1e9 };
const cached = createDnsHandler({ topology, steering, state, config: { ...base, rrl } });
const uncached = createDnsHandler({ topology, steering, state, config: { ...base, rrl, cacheSize: 0 } });
for (const q of queries) cached.handle(q, 'udp', '127.0.0.1', 5353); // fill the cache

let i = 0;
let sink = 0;
summary(() => {
  bench('dns-packet decode of a query (for scale)', () => {
    sink += dnsPacket.decode(queries[i++ % queries.length]!).id ?? 0;
  });
  bench('handler: cache hit (parse, rrl, edns, key, patch)', () => {
    sink += cached.handle(queries[i++ % queries.length]!, 'udp', '127.0.0.1', 5353)?.length ?? 0;
  });
  bench('handler: cache off (steering + encode every time)', () => {
    sink += uncached.handle(queries[i++ % queries.length]!, 'udp', '127.0.0.1', 5353)?.length ?? 0;
  });
});

await run();
if (sink === 42) console.log(''); // keep the results alive
