import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type dnsPacket from 'dns-packet';
import { type Decoded, decode, dnsTopology, query } from '../../test/integration/dns/helpers.ts';
import { ManualClock } from '../core/clock.ts';
import { TableGeoDb } from '../geo/index.ts';
import { createSteering, MutableSteeringState, type Steering } from '../steering/index.ts';
import { createDnsHandler } from './handler.ts';

const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const geo = new TableGeoDb([
  { cidr: '1.2.4.0/24', country: 'CN', province: 'CN-BJ' },
  { cidr: '202.96.128.0/22', country: 'CN', province: 'CN-GD', isp: 'telecom' },
  { cidr: '2001:db8:100::/40', country: 'CN', province: 'CN-BJ' },
]);
const steering = createSteering({ topology, geo });
const SRC = '198.51.100.7';

function setup(opts: { state?: MutableSteeringState; steering?: Steering; config?: typeof topology.config.dns } = {}) {
  const clock = new ManualClock();
  const h = createDnsHandler({
    topology,
    steering: opts.steering ?? steering,
    state: opts.state,
    clock,
    config: opts.config,
  });
  return { h, clock, ask: (q: Buffer, transport: 'udp' | 'tcp' = 'udp') => h.handle(q, transport, SRC, 5353) };
}

type Rr = { name: string; type: string; ttl?: number; data?: unknown };
const rrs = (list: readonly dnsPacket.Answer[] | undefined) =>
  (list ?? [])
    .filter((a) => a.type !== 'OPT')
    .map((a) => {
      const x = a as Rr;
      const data = Buffer.isBuffer(x.data)
        ? x.data.toString()
        : Array.isArray(x.data)
          ? x.data.map((d: Buffer) => d.toString())
          : x.data;
      return `${x.name} ${x.ttl} ${x.type} ${typeof data === 'object' ? JSON.stringify(data) : data}`;
    });
const ecsOf = (p: Decoded) => {
  const opt = p.additionals?.find((a) => a.type === 'OPT') as
    | { options?: { code: number; scopePrefixLength?: number; sourcePrefixLength?: number; ip?: string }[] }
    | undefined;
  return opt?.options?.find((o) => o.code === 8);
};

describe('dns handler: answers', () => {
  const { ask } = setup();
  // CoreDNS-style cases: question → rcode, answer, authority (ns), additional (extra)
  const cases: {
    name: string;
    q: Buffer;
    rcode: string;
    aa?: boolean;
    answer?: string[];
    answerStartsWith?: string[];
    ns?: string[];
    extra?: string[];
  }[] = [
    {
      name: 'A for a northern ECS subnet starts with bj-a',
      q: query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
      rcode: 'NOERROR',
      answerStartsWith: ['api.shop.test 60 A 127.0.3.1'],
    },
    {
      name: 'A for a southern ECS subnet starts with gz-a',
      q: query('api.shop.test', 'A', { ecs: { ip: '202.96.128.0', prefix: 24 } }),
      rcode: 'NOERROR',
      answerStartsWith: ['api.shop.test 60 A 127.0.4.1'],
    },
    {
      name: 'AAAA from the zones addresses6, steered',
      q: query('api.shop.test', 'AAAA', { ecs: { ip: '2001:db8:100::', prefix: 48 } }),
      rcode: 'NOERROR',
      answer: ['api.shop.test 60 AAAA 2001:db8:3::1', 'api.shop.test 60 AAAA 2001:db8:2::1'],
    },
    {
      name: 'TXT from config, one record per string',
      q: query('txt.shop.test', 'TXT'),
      rcode: 'NOERROR',
      answer: ['txt.shop.test 30 TXT ["v=spf1 -all"]', 'txt.shop.test 30 TXT ["hello world"]'],
    },
    {
      name: 'CNAME inside the zone is chased',
      q: query('www.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
      rcode: 'NOERROR',
      answerStartsWith: ['www.shop.test 120 CNAME api.shop.test', 'api.shop.test 60 A 127.0.3.1'],
    },
    {
      name: 'CNAME query returns just the CNAME',
      q: query('www.shop.test', 'CNAME'),
      rcode: 'NOERROR',
      answer: ['www.shop.test 120 CNAME api.shop.test'],
    },
    {
      name: 'CNAME out of the zone is not chased',
      q: query('ext.shop.test', 'A'),
      rcode: 'NOERROR',
      answer: ['ext.shop.test 90 CNAME cdn.example.net'],
    },
    {
      name: 'SOA at the apex',
      q: query('shop.test', 'SOA'),
      rcode: 'NOERROR',
      answer: [
        'shop.test 3600 SOA {"mname":"ns1.shop.test","rname":"hostmaster.shop.test","serial":1,"refresh":3600,"retry":600,"expire":604800,"minimum":60}',
      ],
    },
    {
      name: 'NS at the apex with glue',
      q: query('shop.test', 'NS'),
      rcode: 'NOERROR',
      answer: [1, 2, 3, 4].map((i) => `shop.test 3600 NS ns${i}.shop.test`),
      extra: [1, 2, 3, 4].map((i) => `ns${i}.shop.test 3600 A 127.0.${i}.1`),
    },
    {
      name: 'A of a name server is its zone dns listener address',
      q: query('ns3.shop.test', 'A'),
      rcode: 'NOERROR',
      answer: ['ns3.shop.test 3600 A 127.0.3.1'],
    },
    {
      name: 'NXDOMAIN with the SOA, TTL = SOA minimum',
      q: query('nope.shop.test', 'A'),
      rcode: 'NXDOMAIN',
      answer: [],
      ns: [
        'shop.test 60 SOA {"mname":"ns1.shop.test","rname":"hostmaster.shop.test","serial":1,"refresh":3600,"retry":600,"expire":604800,"minimum":60}',
      ],
    },
    {
      name: 'below an existing name is still NXDOMAIN',
      q: query('a.api.shop.test', 'A'),
      rcode: 'NXDOMAIN',
      answer: [],
    },
    {
      name: 'NODATA: existing name, no record of that type',
      q: query('api.shop.test', 'MX'),
      rcode: 'NOERROR',
      answer: [],
      ns: [
        'shop.test 60 SOA {"mname":"ns1.shop.test","rname":"hostmaster.shop.test","serial":1,"refresh":3600,"retry":600,"expire":604800,"minimum":60}',
      ],
    },
    {
      name: 'NODATA for an empty non-terminal',
      q: query('x.shop.test', 'A'),
      rcode: 'NOERROR',
      answer: [],
    },
    { name: 'NODATA at the apex for A', q: query('shop.test', 'A'), rcode: 'NOERROR', answer: [] },
    {
      name: 'a deep service name answers',
      q: query('deep.x.shop.test', 'A'),
      rcode: 'NOERROR',
      answerStartsWith: ['deep.x.shop.test 60 A'],
    },
    {
      name: 'ANY gets the small RFC 8482 answer',
      q: query('api.shop.test', 'ANY'),
      rcode: 'NOERROR',
      answer: ['api.shop.test 60 HINFO {"cpu":"RFC8482","os":""}'],
    },
    { name: 'outside the apex is REFUSED', q: query('example.com', 'A'), rcode: 'REFUSED', aa: false, answer: [] },
    { name: 'a suffix that is not a label boundary is REFUSED', q: query('evilshop.test', 'A'), rcode: 'REFUSED' },
    { name: 'zone transfers are REFUSED', q: query('shop.test', 'AXFR'), rcode: 'REFUSED' },
  ];
  for (const c of cases)
    test(`dns: ${c.name}`, () => {
      const reply = ask(c.q);
      assert.ok(reply);
      const p = decode(reply);
      assert.equal(p.rcode, c.rcode);
      assert.equal(p.flag_aa, c.aa ?? c.rcode !== 'REFUSED');
      assert.equal(p.flag_qr, true);
      assert.equal(p.flag_rd, true, 'RD copied from the query');
      assert.equal(p.flag_ra, false);
      assert.deepEqual(p.questions, decode(c.q).questions);
      if (c.answer) assert.deepEqual(rrs(p.answers), c.answer);
      if (c.answerStartsWith)
        assert.deepEqual(
          rrs(p.answers)
            .slice(0, c.answerStartsWith.length)
            .map((s, i) => (c.answerStartsWith![i]!.endsWith(' A') ? s.replace(/ [^ ]+$/, '') : s)),
          c.answerStartsWith,
        );
      if (c.ns) assert.deepEqual(rrs(p.authorities), c.ns);
      if (c.extra) assert.deepEqual(rrs(p.additionals), c.extra);
    });

  test('dns: NXDOMAIN and NODATA carry the SOA in authority', () => {
    for (const [n, t] of [
      ['nope.shop.test', 'A'],
      ['api.shop.test', 'TXT'],
    ] as const) {
      const p = decode(ask(query(n, t))!);
      assert.equal(p.authorities.length, 1);
      assert.equal(p.authorities[0]!.type, 'SOA');
    }
  });

  test('dns: A answers are what steering decides, TTL and ECS scope included', () => {
    for (const client of ['1.2.4.0/24', '202.96.128.0/24']) {
      const [ip, prefix] = client.split('/') as [string, string];
      const p = decode(ask(query('api.shop.test', 'A', { ecs: { ip, prefix: Number(prefix) } }))!);
      const want = steering.decide({ service: 'api.shop.test', client, family: 4 });
      assert.deepEqual(
        p.answers.map((a) => (a as { data: string }).data),
        want.endpoints.map((e) => e.host),
      );
      assert.ok(p.answers.every((a) => (a as { ttl: number }).ttl === want.ttl));
      const ecs = ecsOf(p)!;
      assert.equal(ecs.scopePrefixLength, want.scope);
      assert.equal(ecs.sourcePrefixLength, Number(prefix));
      assert.equal(ecs.ip, ip);
    }
  });

  test('dns: without ECS the source address steers', () => {
    const p = decode(
      createDnsHandler({ topology, steering }).handle(query('api.shop.test', 'A'), 'udp', '1.2.4.9', 53)!,
    );
    assert.equal((p.answers[0] as { data: string }).data, '127.0.3.1');
    const q = decode(
      createDnsHandler({ topology, steering }).handle(query('api.shop.test', 'A'), 'udp', '202.96.129.1', 53)!,
    );
    assert.equal((q.answers[0] as { data: string }).data, '127.0.4.1');
  });

  test('dns: ECS source prefix 0 steers by the resolver address and answers scope 0', () => {
    const h = createDnsHandler({ topology, steering });
    const p = decode(
      h.handle(query('api.shop.test', 'A', { ecs: { ip: '0.0.0.0', prefix: 0 } }), 'udp', '202.96.129.1', 53)!,
    );
    assert.equal((p.answers[0] as { data: string }).data, '127.0.4.1');
    assert.equal(ecsOf(p)!.scopePrefixLength, 0);
  });

  test('dns: non-steered answers have ECS scope 0', () => {
    const p = decode(ask(query('txt.shop.test', 'TXT', { ecs: { ip: '1.2.4.0', prefix: 24 } }))!);
    assert.equal(ecsOf(p)!.scopePrefixLength, 0);
  });

  test('dns: duplicate addresses are answered once', () => {
    const p = decode(ask(query('big.shop.test', 'A'))!);
    const ips = p.answers.map((a) => (a as { data: string }).data);
    assert.equal(ips.length, 4);
    assert.equal(new Set(ips).size, 4);
  });
});

describe('dns handler: protocol', () => {
  test('dns: question echoed exactly as asked (0x20), also from the cache', () => {
    const { h, ask } = setup();
    const a = ask(query('ApI.sHoP.tEsT', 'A', { id: 1 }))!;
    const b = ask(query('aPi.ShOp.TeSt', 'A', { id: 2 }))!;
    assert.equal(h.stats.cacheHits, 1);
    assert.equal(decode(a).questions[0]!.name, 'ApI.sHoP.tEsT');
    assert.equal(decode(b).questions[0]!.name, 'aPi.ShOp.TeSt');
    assert.equal(decode(b).id, 2);
    assert.equal(decode(b).rcode, 'NOERROR');
    // the answers' owner is compressed to the question, so it carries the asker's case too
    const strip = (p: Decoded) => p.answers.map((x) => ({ ...x, name: x.name.toLowerCase() }));
    assert.deepEqual(strip(decode(a)), strip(decode(b)));
    assert.deepEqual(
      decode(b).answers.map((x) => x.name),
      decode(b).answers.map(() => 'aPi.ShOp.TeSt'),
    );
  });

  test('dns: a cache hit copies RD and CD from its own query', () => {
    const { h, ask } = setup();
    ask(query('api.shop.test', 'A'));
    const q = query('api.shop.test', 'A', { id: 77 });
    q[2] = q[2]! & 0xfe; // RD off
    q[3] = q[3]! | 0x10; // CD on
    const p = decode(ask(q)!);
    assert.equal(h.stats.cacheHits, 1);
    assert.equal(p.flag_rd, false);
    assert.equal(p.flag_cd, true);
    assert.equal(p.id, 77);
  });

  test('dns: queries that differ only in their COOKIE (a loop of dig) share one cached reply, and the cache stays small', () => {
    const { h, ask } = setup();
    const withCookie = (id: number, cookie: Buffer, ip = '1.2.4.0') =>
      query('api.shop.test', 'A', { id, ecs: { ip, prefix: 24 }, cookie });
    const first = decode(ask(withCookie(1, Buffer.alloc(8, 1)))!);
    for (let i = 2; i <= 50; i++) {
      const p = decode(ask(withCookie(i, Buffer.alloc(8, i)))!);
      assert.equal(p.id, i);
      assert.deepEqual(rrs(p.answers), rrs(first.answers));
    }
    assert.equal(h.stats.cacheHits, 49);
    // the cookie is set aside, nothing else: another subnet is another reply
    ask(withCookie(99, Buffer.alloc(8, 1), '202.96.128.0'));
    assert.equal(h.stats.cacheHits, 49);
  });

  test('dns: a steering state change invalidates cached replies', () => {
    const state = new MutableSteeringState();
    const { h, ask } = setup({ state });
    const q = query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } });
    assert.equal((decode(ask(q)!).answers[0] as { data: string }).data, '127.0.3.1');
    state.setUp('bj-a/edge', false);
    const p = decode(ask(q)!);
    assert.notEqual((p.answers[0] as { data: string }).data, '127.0.3.1');
    assert.equal(h.stats.cacheHits, 0);
  });

  test('dns: cached replies expire after their TTL on the clock', () => {
    const { h, ask, clock } = setup();
    ask(query('api.shop.test', 'A'));
    ask(query('api.shop.test', 'A'));
    assert.equal(h.stats.cacheHits, 1);
    // api.shop.test answers with TTL 60: reused for 60 s, not longer
    clock.advance(59_999);
    ask(query('api.shop.test', 'A'));
    assert.equal(h.stats.cacheHits, 2);
    clock.advance(1);
    ask(query('api.shop.test', 'A'));
    assert.equal(h.stats.cacheHits, 2);
    assert.equal(h.stats.cacheMisses, 2);
  });

  test('dns: without a client subnet, cached replies are per source address', () => {
    const { h } = setup();
    const first = (addr: string) =>
      (decode(h.handle(query('api.shop.test', 'A'), 'udp', addr, 53)!).answers[0] as { data: string }).data;
    const north = first('1.2.4.9');
    const south = first('202.96.128.9');
    assert.equal(north, '127.0.3.1');
    assert.equal(south, '127.0.4.1');
    assert.equal(h.stats.cacheHits, 0);
    // both are cached, each under its own address
    assert.equal(first('202.96.128.9'), south);
    assert.equal(first('1.2.4.9'), north);
    assert.equal(h.stats.cacheHits, 2);
  });

  test('dns: with a client subnet, one cached reply serves every resolver that sends it', () => {
    const { h } = setup();
    const q = query('api.shop.test', 'A', { ecs: { ip: '202.96.128.0', prefix: 24 } });
    const a = decode(h.handle(q, 'udp', '1.2.4.9', 53)!);
    const b = decode(h.handle(q, 'udp', '8.8.8.8', 53)!);
    assert.equal(h.stats.cacheHits, 1);
    assert.equal((b.answers[0] as { data: string }).data, '127.0.4.1');
    assert.deepEqual(a.answers, b.answers);
    assert.deepEqual(ecsOf(a), ecsOf(b));
  });

  test('dns: a whole reply cached for TCP is never sent over UDP past its limit; truncated replies are not cached', () => {
    const { h, ask } = setup();
    assert.equal(decode(ask(query('long.shop.test', 'TXT'), 'tcp')!).answers.length, 3);
    assert.equal(decode(ask(query('long.shop.test', 'TXT'), 'tcp')!).answers.length, 3);
    assert.equal(h.stats.cacheHits, 1);
    assert.equal(decode(ask(query('long.shop.test', 'TXT'))!).flag_tc, true);
    assert.equal(decode(ask(query('long.shop.test', 'TXT'))!).flag_tc, true);
    assert.equal(h.stats.truncated, 2, 'each truncation is counted: none came from the cache');
    assert.equal(h.stats.cacheHits, 1);
  });

  test('dns: cache hits are counted under their query type', () => {
    const { h, ask } = setup();
    ask(query('api.shop.test', 'AAAA'));
    ask(query('api.shop.test', 'AAAA'));
    assert.equal(h.stats.cacheHits, 1);
    assert.equal(h.stats.queriesOfType(28), 2, 'AAAA');
    assert.equal(h.stats.queriesOfType(1), 0, 'A');
  });

  test('dns: OPT in the reply only when the query had one; payload clamped', () => {
    const { ask } = setup();
    const without = decode(ask(query('api.shop.test', 'A'))!);
    assert.equal(without.additionals.filter((a) => a.type === 'OPT').length, 0);
    const withOpt = decode(ask(query('api.shop.test', 'A', { edns: true, udp: 4096 }))!);
    const opt = withOpt.additionals.find((a) => a.type === 'OPT') as { udpPayloadSize: number; ednsVersion: number };
    assert.equal(opt.udpPayloadSize, 1232);
    assert.equal(opt.ednsVersion, 0);
  });

  test('dns: BADVERS for EDNS version 1', () => {
    const { ask } = setup();
    const r = ask(query('api.shop.test', 'A', { version: 1 }))!;
    const p = decode(r);
    const opt = p.additionals.find((a) => a.type === 'OPT') as { extendedRcode: number; ednsVersion: number };
    // BADVERS = 16: low 4 bits 0 in the header, upper 8 bits (1) in the OPT
    assert.equal(r[3]! & 0x0f, 0);
    assert.equal(opt.extendedRcode, 1);
    assert.equal(opt.ednsVersion, 0);
    assert.equal(p.answers.length, 0);
  });

  test('dns: TC=1 with no answers when the reply exceeds 512 without EDNS; whole over TCP and with EDNS', () => {
    const { h, ask } = setup();
    const udp = decode(ask(query('long.shop.test', 'TXT'))!);
    assert.equal(udp.flag_tc, true);
    assert.equal(udp.answers.length, 0);
    assert.equal(udp.questions[0]!.name, 'long.shop.test');
    assert.equal(h.stats.truncated, 1);
    const tcp = decode(ask(query('long.shop.test', 'TXT'), 'tcp')!);
    assert.equal(tcp.flag_tc, false);
    assert.equal(tcp.answers.length, 3);
    const edns = ask(query('long.shop.test', 'TXT', { edns: true, udp: 1232 }))!;
    assert.ok(edns.length > 512 && edns.length <= 1232);
    assert.equal(decode(edns).flag_tc, false);
    // a buffer size below 512 counts as 512
    assert.equal(decode(ask(query('long.shop.test', 'TXT', { edns: true, udp: 100 }))!).flag_tc, true);
  });

  test('dns: maxUdpPayload caps what the client asks for', () => {
    const config = { ...topology.config.dns, maxUdpPayload: 600 };
    const { ask } = setup({ config });
    const p = decode(ask(query('long.shop.test', 'TXT', { edns: true, udp: 4096 }))!);
    assert.equal(p.flag_tc, true);
    assert.equal((p.additionals.find((a) => a.type === 'OPT') as { udpPayloadSize: number }).udpPayloadSize, 600);
  });

  test('dns: FORMERR, NOTIMP and silence for malformed packets, each counted', () => {
    const { h, ask } = setup();
    const good = query('api.shop.test', 'A');
    const rcodeOf = (b: Buffer | null) => (b === null ? null : b[3]! & 0x0f);
    const twoQuestions = Buffer.from(good);
    twoQuestions.writeUInt16BE(2, 4);
    const noQuestion = Buffer.from(good);
    noQuestion.writeUInt16BE(0, 4);
    const notify = Buffer.from(good);
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    const isResponse = Buffer.from(good);
    isResponse[2] = isResponse[2]! | 0x80;
    const pointerInQuestion = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    const cases: [string, Buffer, number | null][] = [
      ['short', good.subarray(0, 11), null],
      ['response', isResponse, null],
      ['qdcount 2', twoQuestions, 1],
      ['qdcount 0', noQuestion, 1],
      ['truncated question', good.subarray(0, good.length - 2), 1],
      ['trailing bytes', Buffer.concat([good, Buffer.from([1, 2, 3])]), 1],
      [
        'label > 63',
        Buffer.concat([good.subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 97), Buffer.from([0, 0, 1, 0, 1])]),
        1,
      ],
      ['pointer in question', pointerInQuestion, 1],
      ['ar count beyond the packet', Buffer.concat([good.subarray(0, 10), Buffer.from([0, 1]), good.subarray(12)]), 1],
      ['opcode NOTIFY', notify, 4],
    ];
    for (const [what, pkt, want] of cases) assert.equal(rcodeOf(ask(pkt)), want, what);
    assert.equal(h.stats.rejectedTotal, cases.length);
  });

  test('dns: malformed ECS is FORMERR', () => {
    const { h, ask } = setup();
    const withEcs = (data: number[]) => {
      const base = query('api.shop.test', 'A', { edns: true });
      // replace the empty OPT rdata with one option: code 8
      const opt = Buffer.from([0, 8, 0, data.length, ...data]);
      const out = Buffer.concat([base, opt]);
      out.writeUInt16BE(opt.length, base.length - 2);
      return out;
    };
    const cases: [string, number[], number][] = [
      ['good /24', [0, 1, 24, 0, 1, 2, 4], 0],
      ['good /0', [0, 1, 0, 0], 0],
      ['family 3', [0, 3, 24, 0, 1, 2, 4], 1],
      ['prefix 33', [0, 1, 33, 0, 1, 2, 4, 0, 0], 1],
      ['address too long', [0, 1, 24, 0, 1, 2, 4, 0], 1],
      ['address too short', [0, 1, 24, 0, 1, 2], 1],
      ['bits beyond the prefix', [0, 1, 23, 0, 1, 2, 5], 1],
      ['option too short', [0, 1, 24], 1],
      ['IPv6 /56', [0, 2, 56, 0, 0x20, 1, 0xd, 0xb8, 1, 0, 0], 0],
    ];
    for (const [what, data, want] of cases) assert.equal(ask(withEcs(data))![3]! & 0x0f, want, what);
    assert.equal(h.stats.rejected.get('ecs-family'), 1);
  });

  test('dns: a failing steering answers SERVFAIL and counts it', () => {
    const broken: Steering = {
      decide: () => {
        throw new Error('boom');
      },
      endpoints: () => [],
    };
    const { h, ask } = setup({ steering: broken });
    const p = decode(ask(query('api.shop.test', 'A'))!);
    assert.equal(p.rcode, 'SERVFAIL');
    assert.equal(h.stats.rejected.get('internal'), 1);
    // not cached: the next query tries again
    ask(query('api.shop.test', 'A'));
    assert.equal(h.stats.rejected.get('internal'), 2);
  });

  test('dns: stages run in the order list, cache and rrl switched by config', () => {
    const on = createDnsHandler({ topology: dnsTopology(), steering });
    // the lean stage is on unless this run reruns the suites on the full path
    const lean = process.env.MZ_DNS_LEAN_PATH === '0' ? [] : ['lean'];
    assert.deepEqual(on.stages, [
      'rrl',
      'padding',
      'cache',
      ...lean,
      'parse',
      'truncate',
      'edns',
      'tsig',
      'zone-match',
      'client-subnet',
      'answer',
    ]);
    const off = createDnsHandler({
      topology: dnsTopology('dns:\n  rrl: { enabled: false }\n  cacheSize: 0\n'),
      steering,
    });
    assert.deepEqual(off.stages, [
      'padding',
      ...lean,
      'parse',
      'truncate',
      'edns',
      'tsig',
      'zone-match',
      'client-subnet',
      'answer',
    ]);
  });

  test('dns: DoH replies to padded queries are padded to 468-octet blocks, cache hits too; UDP and TCP never', () => {
    const { h } = setup();
    const bare = query('api.shop.test', 'A', { edns: true });
    // the OPT ends the message with an empty RDATA: give it a 4-byte Padding option
    const padded = Buffer.concat([bare.subarray(0, bare.length - 2), Buffer.from([0, 8, 0, 12, 0, 4, 0, 0, 0, 0])]);
    for (let i = 0; i < 2; i++) {
      const r = h.answer(padded, 'doh', SRC, 0).reply!;
      assert.equal(r.length, 468, i === 0 ? 'miss' : 'hit');
      const opt = decode(r).additionals.find((a) => a.type === 'OPT') as unknown as { options: { code: number }[] };
      assert.deepEqual(
        opt.options.map((o) => o.code),
        [12],
      );
    }
    assert.equal(h.stats.cacheHits, 1);
    assert.ok(h.handle(padded, 'udp', SRC, 5353)!.length < 468);
    assert.ok(h.handle(padded, 'tcp', SRC, 5353)!.length < 468);
    assert.ok(h.answer(bare, 'doh', SRC, 0).reply!.length < 468, 'no padding asked, none given');
  });

  test('dns: a TSIG-signed query is NOTAUTH, counted as rejected and never cached', () => {
    const { h, ask } = setup();
    const msg = query('api.shop.test', 'A');
    // key "k", hmac-sha256, time 1, fudge 300, a 1-byte MAC, original id 9
    const alg = Buffer.from([11, ...Buffer.from('hmac-sha256'), 0]);
    const rdata = Buffer.concat([alg, Buffer.from([0, 0, 0, 0, 0, 1, 1, 44, 0, 1, 0xaa, 0, 9, 0, 0, 0, 0])]);
    const rr = Buffer.concat([Buffer.from([1, 107, 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, rdata.length]), rdata]);
    const signed = Buffer.concat([msg, rr]);
    signed.writeUInt16BE(1, 10);
    for (let i = 0; i < 2; i++) assert.equal(decode(ask(signed)!).rcode, 'NOTAUTH');
    assert.equal(h.stats.rejected.get('tsig-badkey'), 2);
    assert.equal(h.stats.cacheHits, 0);
    assert.equal(h.stats.queriesWith('NOTAUTH'), 2);
  });

  test('dns: queries are counted by rcode', () => {
    const { h, ask } = setup();
    ask(query('api.shop.test', 'A'));
    ask(query('nope.shop.test', 'A'));
    ask(query('example.com', 'A'));
    assert.equal(h.stats.queriesWith('NOERROR'), 1);
    assert.equal(h.stats.queriesWith('NXDOMAIN'), 1);
    assert.equal(h.stats.queriesWith('REFUSED'), 1);
  });
});
