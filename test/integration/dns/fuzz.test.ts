// Hostile input: >= 100 000 random and mutated UDP packets, then a good query must still be answered.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { seededRandom } from '../../../src/core/random.ts';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import { decode, dnsTopology, HOST, query, udpExchange } from './helpers.ts';

const PACKETS = 100_000;
const BATCH = 500;
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);

let server: DnsServer;
const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const steering = createSteering({ topology, geo: defaultGeoDb() });
before(async () => {
  server = await startDnsServer({ topology, host: HOST, port: 0, steering });
});
after(() => server.close());

const seeds = [
  query('api.shop.test', 'A'),
  query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
  query('Api.Shop.Test', 'AAAA', { ecs: { ip: '2001:db8::', prefix: 56 } }),
  query('shop.test', 'NS', { edns: true }),
  query('long.shop.test', 'TXT', { edns: true, udp: 65535 }),
  query('www.shop.test', 'CNAME'),
  query('nope.shop.test', 'SOA'),
];

/** One hostile packet: a mutated seed query, a truncation, or random bytes. */
function hostile(rnd: ReturnType<typeof seededRandom>): Buffer {
  const kind = rnd.int(6);
  const base = seeds[rnd.int(seeds.length)]!;
  if (kind === 0) {
    const b = Buffer.alloc(rnd.int(600));
    for (let i = 0; i < b.length; i++) b[i] = rnd.int(256);
    return b;
  }
  if (kind === 1) return base.subarray(0, rnd.int(base.length + 1));
  const b = Buffer.from(base);
  if (kind === 2) {
    // flip a few bytes anywhere (header counts, label lengths, OPT fields, ECS data)
    for (let n = 1 + rnd.int(4); n > 0; n--) b[rnd.int(b.length)] = rnd.int(256);
    return b;
  }
  if (kind === 3) {
    // header counts only: the parser must not trust them
    for (const off of [4, 6, 8, 10])
      if (rnd.next() < 0.5) b.writeUInt16BE(rnd.int(4) === 0 ? rnd.int(65536) : rnd.int(3), off);
    b[2] = b[2]! & 0x7f; // stay a query so it reaches the parser's deeper checks
    return b;
  }
  if (kind === 4) {
    // splice: duplicate or cut a random slice
    const i = rnd.int(b.length);
    const j = i + rnd.int(b.length - i + 1);
    return rnd.next() < 0.5
      ? Buffer.concat([b.subarray(0, j), b.subarray(i)])
      : Buffer.concat([b.subarray(0, i), b.subarray(j)]);
  }
  // random tail appended, or compression pointers planted
  if (rnd.next() < 0.5) {
    const tail = Buffer.alloc(1 + rnd.int(40));
    for (let i = 0; i < tail.length; i++) tail[i] = rnd.int(256);
    return Buffer.concat([b, tail]);
  }
  const at = 12 + rnd.int(Math.max(1, b.length - 13));
  b[at] = 0xc0 | rnd.int(64);
  if (at + 1 < b.length) b[at + 1] = rnd.int(256);
  return b;
}

test(`dns: ${PACKETS} random and mutated packets do not crash the server (seed ${seed})`, async () => {
  const rnd = seededRandom(seed);
  const sock = dgram.createSocket('udp4');
  let replies = 0;
  let badReplies = 0;
  sock.on('message', (m) => {
    replies++;
    // every reply is a DNS response no bigger than the largest UDP size we allow
    if (m.length < 12 || (m[2]! & 0x80) === 0 || m.length > 1232) badReplies++;
  });
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  const stats = server.handler.stats;
  const start = stats.packets;
  let sent = 0;
  try {
    while (sent < PACKETS) {
      for (let i = 0; i < BATCH; i++) {
        sock.send(hostile(rnd), server.port, HOST);
        sent++;
      }
      // let the server drain so the kernel does not drop most of the flood (bounded wait)
      for (let spin = 0; spin < 200 && stats.packets - start < sent - BATCH; spin++)
        await new Promise((r) => setImmediate(r));
    }
    for (let spin = 0; spin < 2000 && stats.packets - start < sent; spin++) await new Promise((r) => setImmediate(r));
  } finally {
    sock.close();
  }
  const handled = stats.packets - start;
  console.log(`# fuzz seed=${seed} sent=${sent} handled=${handled} replies=${replies} rejected=${stats.rejectedTotal}`);
  assert.equal(sent, PACKETS);
  assert.ok(handled > PACKETS * 0.9, `the server saw most of the flood (${handled})`);
  assert.ok(stats.rejectedTotal > PACKETS / 4, 'rejected packets are counted');
  assert.equal(badReplies, 0);
  assert.equal(stats.rejected.get('internal') ?? 0, 0, 'no packet reached an internal error');

  const p = decode(
    (await udpExchange(server.port, query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } })))!,
  );
  assert.equal(p.rcode, 'NOERROR');
  assert.equal((p.answers[0] as { data: string }).data, '127.0.3.1');
});
