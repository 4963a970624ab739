// The benchmark's query set: A queries for our services, each with its own ECS /24, drawn so
// that every steering rule (north, south, east, default) gets a quarter. Written in dnsperf's
// binary (-B, TCP-stream) format so every query carries a different client subnet.
import dnsPacket from 'dns-packet';
import { seededRandom } from '../../src/core/random.ts';
import { defaultGeoDb, intToIpv4 } from '../../src/geo/index.ts';
import { createSteering } from '../../src/steering/index.ts';
import { loadTopology } from '../../src/topology/index.ts';

/** A client /24 and the steering rule (region) it falls in. */
export interface BenchSubnet {
  net: string; // '1.2.4.0'
  rule: 'north' | 'south' | 'east' | 'default';
}

export const NAMES = ['api.shop.test', 'static.shop.test'];

/** Picks `perRule` random /24s for each rule of the default topology's `nearest` policy. */
export function pickSubnets(perRule: number, seed = 42): BenchSubnet[] {
  const topology = loadTopology();
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  const rnd = seededRandom(seed);
  const want = { north: perRule, south: perRule, east: perRule, default: perRule };
  const out: BenchSubnet[] = [];
  const seen = new Set<number>();
  for (let tries = 0; tries < 5_000_000 && out.length < perRule * 4; tries++) {
    // public unicast space, skipping 0/8, 10/8, 127/8 and 224+
    const a = 1 + rnd.int(223);
    if (a === 10 || a === 127 || a === 100 || a === 169 || a === 172 || a === 192) continue;
    const n = ((a << 24) | (rnd.int(256) << 16) | (rnd.int(256) << 8)) >>> 0;
    if (seen.has(n)) continue;
    seen.add(n);
    const net = intToIpv4(n);
    const d = steering.decide({ service: 'api.shop.test', client: `${net}/24`, family: 4 });
    const rule = (d.rule === 'cernet' ? 'north' : d.rule) as BenchSubnet['rule'];
    if (!(rule in want) || want[rule] <= 0) continue;
    // keep only subnets whose location is uniform over the whole /24 (the peers' mmdb maps /24s)
    if (d.location.prefix > 24) continue;
    want[rule]--;
    out.push({ net, rule });
  }
  return out;
}

/** One A query for `name` with the ECS /24 of `net`, as dnsperf -B frames it: [u16 length][query]. */
function framedQuery(id: number, name: string, net: string): Buffer[] {
  const q = dnsPacket.encode({
    id: id & 0xffff,
    type: 'query',
    flags: 0,
    questions: [{ name, type: 'A', class: 'IN' }],
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 1232,
        options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: net }],
      } as unknown as dnsPacket.Answer,
    ],
  });
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  return [len, q];
}

/** dnsperf -B input: [u16 length][query] per query, cycling names over subnets. */
export function binaryQueries(subnets: readonly BenchSubnet[], count: number, seed = 7): Buffer {
  const rnd = seededRandom(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const s = subnets[rnd.int(subnets.length)]!;
    parts.push(...framedQuery(i, NAMES[rnd.int(NAMES.length)]!, s.net));
  }
  return Buffer.concat(parts);
}

/**
 * dnsperf -B input in which no two queries share a reply-cache key: every (subnet, name)
 * pair once, in a seeded order, so against a server that has not seen these subnets every
 * query is an answer-cache miss.
 */
export function distinctQueries(subnets: readonly BenchSubnet[], seed = 11): Buffer {
  const pairs = subnets.flatMap((s) => NAMES.map((name) => ({ net: s.net, name })));
  const rnd = seededRandom(seed);
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [pairs[i], pairs[j]] = [pairs[j]!, pairs[i]!];
  }
  return Buffer.concat(pairs.flatMap((p, i) => framedQuery(i, p.name, p.net)));
}
