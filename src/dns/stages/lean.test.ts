import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dnsTopology, query } from '../../../test/integration/dns/helpers.ts';
import { ManualClock } from '../../core/clock.ts';
import { seededRandom } from '../../core/random.ts';
import { TableGeoDb } from '../../geo/index.ts';
import { createSteering } from '../../steering/index.ts';
import type { Transport } from '../chain.ts';
import { createDnsHandler, type DnsHandler } from '../handler.ts';

const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const geo = new TableGeoDb([
  { cidr: '1.2.4.0/24', country: 'CN', province: 'CN-BJ' },
  { cidr: '202.96.128.0/22', country: 'CN', province: 'CN-GD', isp: 'telecom' },
  { cidr: '2001:db8:100::/40', country: 'CN', province: 'CN-BJ' },
]);
const SRC = '198.51.100.7';

/** Two handlers alike but for the lean stage, each with its own seeded steering (same picks). */
function pair(cacheSize: number): { lean: DnsHandler; full: DnsHandler } {
  const make = (leanPath: boolean) =>
    createDnsHandler({
      topology,
      steering: createSteering({ topology, geo, random: seededRandom(5) }),
      clock: new ManualClock(),
      config: { ...topology.config.dns, cacheSize },
      leanPath,
    });
  return { lean: make(true), full: make(false) };
}

const NAMES = [
  'api.shop.test',
  'API.Shop.TEST',
  'big.shop.test',
  'deep.x.shop.test',
  'www.shop.test',
  'txt.shop.test',
  'ns1.shop.test',
  'shop.test',
  'x.shop.test',
  'nope.shop.test',
  'example.net',
];
const TYPES = ['A', 'AAAA', 'A', 'AAAA', 'TXT', 'MX', 'ANY'];

/** A random query of mostly the common shape, sometimes bent out of it. */
function randomQuery(r: ReturnType<typeof seededRandom>): Buffer {
  const v6 = r.int(3) === 0;
  const prefix = v6 ? r.int(129) : r.int(33);
  const ip = v6 ? '2001:db8:100::' : ['1.2.4.0', '202.96.128.0', '8.8.8.0', '0.0.0.0'][r.int(4)]!;
  const mask = (b: Buffer, bits: number) => {
    // zero the bits past the prefix, as RFC 7871 §6 requires of the query's address
    for (let i = 0; i < b.length; i++) {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      b[i] = b[i]! & ((0xff << (8 - keep)) & 0xff);
    }
  };
  const opts = {
    id: r.int(65536),
    edns: r.int(4) !== 0,
    ecs: r.int(3) !== 0 ? { ip, prefix } : undefined,
    cookie: r.int(4) === 0 ? Buffer.alloc(8, r.int(256)) : undefined,
    udp: [512, 1232, 4096, 100][r.int(4)],
    version: r.int(10) === 0 ? 1 : 0,
  };
  let q = query(NAMES[r.int(NAMES.length)]!, TYPES[r.int(TYPES.length)]!, opts);
  if (opts.ecs) {
    // dns-packet writes the address bytes as given: clear what lies past the prefix
    const at = q.indexOf(Buffer.from([0, 8]), 12);
    if (at > 0) mask(q.subarray(at + 8, at + 4 + q.readUInt16BE(at + 2)), prefix);
  }
  if (r.int(5) === 0) q[2] = q[2]! ^ (1 << r.int(8)); // QR, opcode, AA, TC, RD
  if (r.int(5) === 0) q[3] = q[3]! ^ (1 << r.int(8)); // Z, AD, CD, rcode bits
  if (r.int(20) === 0) q = q.subarray(0, r.int(q.length));
  if (r.int(20) === 0) q = Buffer.concat([q, Buffer.from([0])]);
  return q;
}

describe('dns lean stage: the same bytes as the full chain', () => {
  for (const cacheSize of [0, 1000]) {
    test(`dns: 4000 seeded queries get byte-identical replies with and without the lean stage (cacheSize ${cacheSize})`, () => {
      const r = seededRandom(2026);
      const { lean, full } = pair(cacheSize);
      for (let i = 0; i < 4000; i++) {
        const q = randomQuery(r);
        const transport: Transport = (['udp', 'udp', 'tcp', 'doh'] as const)[r.int(4)]!;
        const a = lean.answer(q, transport, SRC, 5353);
        const b = full.answer(q, transport, SRC, 5353);
        assert.deepEqual(a.reply, b.reply, `query ${i} (${transport}): ${q.toString('hex')}`);
        assert.equal(a.ttl, b.ttl, `ttl of query ${i}`);
      }
      // the same counters, and the lean stage answered a good share of the misses
      assert.deepEqual(lean.stats.queries, full.stats.queries);
      assert.deepEqual([...lean.stats.rejected].sort(), [...full.stats.rejected].sort());
      assert.equal(lean.stats.truncated, full.stats.truncated);
      assert.equal(lean.stats.cacheHits, full.stats.cacheHits);
      assert.ok(lean.stats.leanAnswers > 500, `lean answers: ${lean.stats.leanAnswers}`);
      assert.equal(full.stats.leanAnswers, 0);
    });
  }

  test('dns: the lean stage answers A and AAAA with and without ECS, and passes other shapes on', () => {
    const { lean } = pair(0);
    const ask = (q: Buffer) => lean.handle(q, 'udp', SRC, 5353);
    const cases: [Buffer, boolean][] = [
      [query('api.shop.test', 'A'), true],
      [query('api.shop.test', 'AAAA', { edns: true }), true],
      [query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }), true],
      [query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 }, cookie: Buffer.alloc(8, 1) }), true],
      [query('api.shop.test', 'A', { version: 1 }), false], // BADVERS
      [query('api.shop.test', 'TXT'), false],
      [query('www.shop.test', 'A'), false], // CNAME
      [query('ns1.shop.test', 'A'), false], // glue
      [query('example.net', 'A'), false], // REFUSED
    ];
    for (const [q, byLean] of cases) {
      const before = lean.stats.leanAnswers;
      assert.ok(ask(q) !== null);
      assert.equal(lean.stats.leanAnswers - before, byLean ? 1 : 0, q.toString('hex'));
    }
  });
});
