// DNS fuzz: over 100 000 hostile packets (UDP mostly, TCP for a tenth of the batches, plus
// garbage TCP framing) interleaved with valid queries whose answers must stay right. Every
// header flag combination (all 65 536 values of bytes 2-3) is sent once; the rest are random
// bytes, bit flips, truncations, compression pointer loops and forward pointers, bad OPT and
// ECS, huge counts, TSIG records and splices. Each reply must parse, carry its query's id and
// obey the rules that hold for any packet (opcode → NOTIMP, QDCOUNT ≠ 1 → FORMERR, never
// SERVFAIL, question echoed byte for byte, …); packets shorter than a header or with QR set
// get silence. Seeded: FUZZ_SEED=<n> replays a run (the seed is logged first).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { seededRandom } from '../../../src/core/random.ts';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import {
  decode,
  dnsTopology,
  HOST,
  header,
  optRr,
  QUESTION,
  query,
  TcpClient,
  tsigRr,
  udpExchange,
  wireName,
  withAdditional,
} from './helpers.ts';

/** Hostile packets to send (the 65 536 flag combinations are among them). */
const HOSTILE = 110_000;
/** Hostile packets between two valid queries; a batch is sent, then its valid query awaited. */
const BATCH = 100;
/** Every TCP_EVERY-th batch goes over TCP. */
const TCP_EVERY = 10;
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);

const RC = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, NOTAUTH: 9 } as const;
/** Header rcodes a well-formed-looking QUERY may get (BADVERS shows 0 in the header). Never SERVFAIL. */
const ANY_QUERY_RCODE = [RC.NOERROR, RC.FORMERR, RC.NXDOMAIN, RC.REFUSED, RC.NOTAUTH];

type Rnd = ReturnType<typeof seededRandom>;

/** What a hostile packet may get back. */
interface Expect {
  kind: string;
  /** No reply allowed (shorter than a header, or QR set). */
  silent: boolean;
  /** Allowed header rcodes of the reply. */
  rcodes: readonly number[];
  /** The reply must carry an OPT (the query had a well-placed one). */
  opt?: boolean;
  /** Extra check on the reply; returns what is wrong, or null. */
  check?: (reply: Buffer) => string | null;
}

// ---- an independent reader for replies: every name and record inside the message, exactly

function walkName(b: Buffer, p: number): number {
  let end = -1;
  let jumps = 0;
  for (let total = 0; ; ) {
    if (p >= b.length) return -1;
    const len = b[p]!;
    if (len === 0) return end < 0 ? p + 1 : end;
    if ((len & 0xc0) === 0xc0) {
      if (p + 1 >= b.length) return -1;
      const to = ((len & 0x3f) << 8) | b[p + 1]!;
      if (to >= p || ++jumps > 128) return -1;
      if (end < 0) end = p + 2;
      p = to;
      continue;
    }
    if (len > 63) return -1;
    total += len + 1;
    if (total > 255) return -1;
    p += len + 1;
  }
}

/** The message's structure is exact: counts match the records and nothing is left over. */
function wellFormed(b: Buffer): boolean {
  if (b.length < 12) return false;
  let p = 12;
  for (let i = b.readUInt16BE(4); i > 0; i--) {
    p = walkName(b, p);
    if (p < 0 || p + 4 > b.length) return false;
    p += 4;
  }
  for (let i = b.readUInt16BE(6) + b.readUInt16BE(8) + b.readUInt16BE(10); i > 0; i--) {
    p = walkName(b, p);
    if (p < 0 || p + 10 > b.length) return false;
    p += 10 + b.readUInt16BE(p + 8);
    if (p > b.length) return false;
  }
  return p === b.length;
}

/** Record types of the additional section of a well-formed message. */
function additionalTypes(b: Buffer): number[] {
  let p = 12;
  for (let i = b.readUInt16BE(4); i > 0; i--) p = walkName(b, p) + 4;
  for (let i = b.readUInt16BE(6) + b.readUInt16BE(8); i > 0; i--) {
    p = walkName(b, p);
    p += 10 + b.readUInt16BE(p + 8);
  }
  const out: number[] = [];
  for (let i = b.readUInt16BE(10); i > 0; i--) {
    p = walkName(b, p);
    out.push(b.readUInt16BE(p));
    p += 10 + b.readUInt16BE(p + 8);
  }
  return out;
}

/** The rules any reply to `q` must follow, whatever the packet was; returns what is wrong. */
function generalProblems(q: Buffer, r: Buffer, transport: 'udp' | 'tcp', e: Expect): string | null {
  if (r.length < 12) return 'reply shorter than a header';
  if (!wellFormed(r)) return 'reply is not a well-formed message';
  try {
    dnsPacket.decode(r);
  } catch (err) {
    return `dns-packet cannot decode the reply: ${(err as Error).message}`;
  }
  if ((r[2]! & 0x80) === 0) return 'QR clear in the reply';
  const opcode = (q[2]! >> 3) & 0x0f;
  if (((r[2]! >> 3) & 0x0f) !== opcode) return 'opcode not echoed';
  if ((r[2]! & 0x01) !== (q[2]! & 0x01)) return 'RD not copied';
  if ((r[3]! & 0x10) !== (opcode === 0 ? q[3]! & 0x10 : 0)) return 'CD wrong (copied for QUERY only)';
  if ((r[3]! & 0xe0 & ~0x10) !== 0) return 'RA, Z or AD set';
  const rcode = r[3]! & 0x0f;
  if (!e.rcodes.includes(rcode)) return `rcode ${rcode} (allowed ${e.rcodes.join(',')})`;
  const qd = r.readUInt16BE(4);
  if (qd > 1) return 'more than one question in the reply';
  if (qd === 1) {
    const qEnd = walkName(r, 12) + 4;
    if (!r.subarray(12, qEnd).equals(q.subarray(12, qEnd))) return 'question not echoed byte for byte';
  }
  if (transport === 'udp' && r.length > 1232) return `UDP reply of ${r.length} bytes`;
  if ((r[2]! & 0x02) !== 0 && r.readUInt16BE(6) !== 0) return 'TC with answers';
  const types = additionalTypes(r);
  if (types.filter((t) => t === 41).length > 1) return 'two OPTs in the reply';
  if (e.opt && !types.includes(41)) return 'no OPT in the reply to a query with one';
  if (types.includes(250) && types.at(-1) !== 250) return 'TSIG not last';
  return e.check?.(r) ?? null;
}

/** A packet for a failure message: its hex, cut to a readable length. */
const hex = (b: Buffer) => (b.length > 96 ? `${b.subarray(0, 96).toString('hex')}…` : b.toString('hex'));

/** Expectations that follow from the header alone. */
function byHeader(kind: string, b: Buffer): Expect {
  if (b.length < 12 || (b[2]! & 0x80) !== 0) return { kind, silent: true, rcodes: [] };
  if (((b[2]! >> 3) & 0x0f) !== 0) return { kind, silent: false, rcodes: [RC.NOTIMP] };
  if (b.readUInt16BE(4) !== 1) return { kind, silent: false, rcodes: [RC.FORMERR] };
  return { kind, silent: false, rcodes: ANY_QUERY_RCODE };
}

/** A malformed query whose header is a plain QUERY: FORMERR, with an OPT when it had one. */
const formerr = (kind: string, opt = false): Expect => ({ kind, silent: false, rcodes: [RC.FORMERR], opt });

// ---- hostile packets

const ecsQuery = query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } });
const plainQuery = query('api.shop.test', 'A');
const tsigMsg = Buffer.concat([header(1, 1, 0, 1, 0, 0, 0), QUESTION]);
const seeds: Buffer[] = [
  plainQuery,
  ecsQuery,
  query('Api.Shop.Test', 'AAAA', { ecs: { ip: '2001:db8::', prefix: 56 } }),
  query('shop.test', 'NS', { edns: true }),
  query('long.shop.test', 'TXT', { edns: true, udp: 65535 }),
  query('www.shop.test', 'CNAME'),
  query('nope.shop.test', 'SOA'),
  query('big.shop.test', 'A', { edns: true }),
  withAdditional(tsigMsg, tsigRr(tsigMsg, 'mz-key', Buffer.from('k'), 1_767_225_600)),
  // padding, cookie and an unknown option: all legal
  Buffer.concat([
    header(1, 1, 0, 1, 0, 0, 1),
    QUESTION,
    optRr(Buffer.from([0, 12, 0, 3, 0, 0, 0, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0xfd, 0xe9, 0, 1, 9])),
  ]),
];

/** ECS option bytes: family, source prefix, scope, address. */
function ecs(family: number, source: number, address: number[], scope = 0): Buffer {
  const data = Buffer.from([family >> 8, family & 0xff, source, scope, ...address]);
  return Buffer.concat([Buffer.from([0, 8, data.length >> 8, data.length & 0xff]), data]);
}
const withOpt = (opt: Buffer, ar = 1, extra: Buffer[] = []) =>
  Buffer.concat([header(1, 1, 0, 1, 0, 0, ar), QUESTION, opt, ...extra]);

/** Malformed OPT and ECS: each is FORMERR with an OPT (BADVERS for versions above 0). */
function badEdns(rnd: Rnd): [string, Buffer, Expect] {
  const k = rnd.int(12);
  const v4 = [1, 2, 4];
  switch (k) {
    case 0:
      return ['ecs-family', withOpt(optRr(ecs([0, 3, 0xffff][rnd.int(3)]!, 24, v4))), formerr('ecs-family', true)];
    case 1:
      return ['ecs-prefix-v4', withOpt(optRr(ecs(1, 33 + rnd.int(223), v4))), formerr('ecs-prefix', true)];
    case 2:
      return ['ecs-prefix-v6', withOpt(optRr(ecs(2, 129 + rnd.int(127), Array(16).fill(0x20)))), formerr('ecs', true)];
    case 3:
      // /23 with the 24th bit set: bits beyond the source prefix
      return ['ecs-bits', withOpt(optRr(ecs(1, 23, [1, 2, 5]))), formerr('ecs-bits', true)];
    case 4: {
      // address one byte longer or shorter than ceil(prefix / 8)
      const addr = rnd.next() < 0.5 ? [1, 2] : [1, 2, 4, 0];
      return ['ecs-length', withOpt(optRr(ecs(1, 24, addr))), formerr('ecs-length', true)];
    }
    case 5: {
      // the option's length runs past the OPT's RDATA
      const o = ecs(1, 24, v4);
      o.writeUInt16BE(o.length + 1 + rnd.int(50), 2);
      return ['option-overrun', withOpt(optRr(o)), formerr('option-overrun', true)];
    }
    case 6:
      return ['ecs-twice', withOpt(optRr(Buffer.concat([ecs(1, 24, v4), ecs(1, 24, v4)]))), formerr('ecs-twice', true)];
    case 7: {
      const opt = optRr(Buffer.alloc(0));
      const n = 2 + rnd.int(3);
      return ['multiple-opt', withOpt(opt, n, Array(n - 1).fill(opt)), formerr('multiple-opt', true)];
    }
    case 8:
      return ['opt-owner', withOpt(optRr(Buffer.alloc(0), { owner: wireName('x') })), formerr('opt-owner', true)];
    case 9: {
      const b = withOpt(optRr(Buffer.alloc(0)));
      b[b.length - 11 + 6] = 1 + rnd.int(255); // EDNS version
      const badvers: Expect = {
        kind: 'badvers',
        silent: false,
        rcodes: [0],
        opt: true,
        check: (r) => (decode(r).additionals.some((a) => a.type === 'OPT') ? null : 'BADVERS without OPT'),
      };
      return ['badvers', b, badvers];
    }
    case 10: {
      // the OPT's RDLENGTH runs past the packet
      const b = withOpt(optRr(ecs(1, 24, v4)));
      b.writeUInt16BE(200 + rnd.int(1000), b.length - 13);
      return ['opt-rdlen', b, formerr('opt-rdlen', true)];
    }
    default: {
      // a truncated option header inside the RDATA
      return ['option-cut', withOpt(optRr(Buffer.from([0, 8, 0]))), formerr('option-cut', true)];
    }
  }
}

/** Compression pointer loops and forward pointers, in the question and in records. */
function pointers(rnd: Rnd): [string, Buffer, Expect] {
  const k = rnd.int(5);
  if (k === 0) {
    // the question name is a pointer (to itself, forward, or to the header)
    const b = Buffer.concat([
      header(1, 1, 0, 1, 0, 0, 0),
      Buffer.from([0xc0, [12, 14, 0, 40][rnd.int(4)]!, 0, 1, 0, 1]),
    ]);
    return ['question-pointer', b, formerr('question-pointer')];
  }
  const ownerAt = 12 + QUESTION.length;
  // a record in the answer, authority or additional section whose owner is a bad pointer
  const owner =
    k === 1
      ? Buffer.from([0xc0 | (ownerAt >> 8), ownerAt & 0xff]) // itself
      : k === 2
        ? Buffer.from([0xc0, (ownerAt + 2 + rnd.int(40)) & 0xff]) // forward
        : k === 3
          ? Buffer.from([1, 97, 0xc0 | (ownerAt >> 8), ownerAt & 0xff]) // a label, then back to itself
          : Buffer.from([0xc0 | ((ownerAt + 2) >> 8), (ownerAt + 2) & 0xff, 0xc0, ownerAt & 0xff]); // two pointing at each other
  const rr = Buffer.concat([owner, Buffer.from([0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1])]);
  const section = rnd.int(3);
  const b = Buffer.concat([
    header(1, 1, 0, 1, section === 0 ? 1 : 0, section === 1 ? 1 : 0, section === 2 ? 1 : 0),
    QUESTION,
    rr,
  ]);
  return ['record-pointer', b, formerr('record-pointer')];
}

/** Counts far beyond what the packet holds. */
function hugeCounts(rnd: Rnd): [string, Buffer, Expect] {
  const b = Buffer.from(seeds[rnd.int(seeds.length)]!);
  const off = [4, 6, 8, 10][rnd.int(4)]!;
  b.writeUInt16BE(off === 4 ? [0, 2, 0xffff][rnd.int(3)]! : 0x8000 + rnd.int(0x8000), off);
  return ['huge-count', b, formerr('huge-count')];
}

/** TSIG records: a signed query is NOTAUTH; a TSIG not last, of the wrong class or cut short is FORMERR. */
function tsig(rnd: Rnd): [string, Buffer, Expect] {
  const key = ['mz-key', 'a.b.c', 'k'][rnd.int(3)]!;
  const rr = tsigRr(tsigMsg, key, Buffer.from('k'), rnd.int(2 ** 31), rnd.int(65536));
  const k = rnd.int(4);
  if (k === 0) {
    const check = (r: Buffer) => (additionalTypes(r).at(-1) === 250 ? null : 'NOTAUTH without a TSIG last');
    return ['tsig', withAdditional(tsigMsg, rr), { kind: 'tsig', silent: false, rcodes: [RC.NOTAUTH], check }];
  }
  if (k === 1)
    return [
      'tsig-not-last',
      withAdditional(withAdditional(tsigMsg, rr), optRr(Buffer.alloc(0))),
      formerr('tsig', true),
    ];
  const b = Buffer.from(rr);
  const keyLen = wireName(key).length;
  if (k === 2) {
    b.writeUInt16BE(1, keyLen + 2); // class IN
    return ['tsig-class', withAdditional(tsigMsg, b), formerr('tsig-class')];
  }
  // RDATA cut short by d bytes (RDLENGTH agrees): the fixed fields after the MAC are missing
  const d = 1 + rnd.int(20);
  b.writeUInt16BE(b.readUInt16BE(keyLen + 8) - d, keyLen + 8);
  const msg = withAdditional(tsigMsg, b.subarray(0, b.length - d));
  return ['tsig-bad', msg, formerr('tsig-bad')];
}

/** One hostile packet that is not a flag combination. */
function hostile(rnd: Rnd): [string, Buffer, Expect | null] {
  const base = seeds[rnd.int(seeds.length)]!;
  switch (rnd.int(10)) {
    case 0: {
      const b = Buffer.alloc(rnd.int(600));
      for (let i = 0; i < b.length; i++) b[i] = rnd.int(256);
      return ['random', b, null];
    }
    case 1:
      return ['truncated', Buffer.from(base.subarray(0, rnd.int(base.length))), null];
    case 2: {
      const b = Buffer.from(base);
      for (let n = 1 + rnd.int(8); n > 0; n--) {
        const i = 2 + rnd.int(b.length - 2);
        b[i] = b[i]! ^ (1 << rnd.int(8));
      }
      return ['bit-flip', b, null];
    }
    case 3: {
      const b = Buffer.from(base);
      for (let n = 1 + rnd.int(4); n > 0; n--) b[2 + rnd.int(b.length - 2)] = rnd.int(256);
      return ['byte-set', b, null];
    }
    case 4: {
      const i = rnd.int(base.length);
      const j = i + rnd.int(base.length - i + 1);
      const b =
        rnd.next() < 0.5
          ? Buffer.concat([base.subarray(0, j), base.subarray(i)])
          : Buffer.concat([base.subarray(0, i), base.subarray(j)]);
      return ['splice', b, null];
    }
    case 5:
      return pointers(rnd);
    case 6:
      return hugeCounts(rnd);
    case 7:
    case 8:
      return badEdns(rnd);
    default:
      return tsig(rnd);
  }
}

/**
 * One of the 65 536 header flag values (QR, opcode, AA, TC, RD | RA, Z, AD, CD, rcode) on a
 * good query, with or without EDNS: QR set → silence, another opcode → NOTIMP (RD copied,
 * CD not), a QUERY → the normal answer whatever the other bits say.
 */
function flagCombo(flags: number, edns: boolean, answers: Map<string, string>): [string, Buffer, Expect] {
  const b = Buffer.from(edns ? ecsQuery : plainQuery);
  b[2] = flags >> 8;
  b[3] = flags & 0xff;
  const e = byHeader('flags', b);
  if (e.silent) return ['flags', b, e];
  if (e.rcodes[0] === RC.NOTIMP) return ['flags', b, { ...e, opt: edns }];
  const want = answers.get(edns ? 'ecs' : 'plain')!;
  const check = (r: Buffer) => {
    if ((r[2]! & 0x04) === 0) return 'AA clear on our answer';
    if ((r[2]! & 0x02) !== 0) return 'TC on a small answer';
    const got = aRecords(r);
    return got === want ? null : `answer ${got}, expected ${want}`;
  };
  return ['flags', b, { kind: 'flags', silent: false, rcodes: [RC.NOERROR], opt: edns, check }];
}

/** The A records of a reply, sorted, as one string. */
function aRecords(r: Buffer): string {
  return decode(r)
    .answers.filter((a) => a.type === 'A')
    .map((a) => String((a as { data: unknown }).data))
    .sort()
    .join(',');
}

// ---- valid queries asked between batches; their answers must not change

const probes: { name: string; q: Buffer }[] = [
  { name: 'beijing', q: query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }) },
  { name: 'guangdong', q: query('api.shop.test', 'A', { ecs: { ip: '202.96.128.0', prefix: 24 } }) },
  { name: 'big', q: query('big.shop.test', 'A', { edns: true }) },
  { name: 'cname', q: query('www.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }) },
  { name: 'glue', q: query('ns1.shop.test', 'A') },
];

let server: DnsServer;
const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const steering = createSteering({ topology, geo: defaultGeoDb() });
before(async () => {
  server = await startDnsServer({ topology, host: HOST, port: 0, steering });
});
after(() => server.close());

test(`dns: ${HOSTILE} hostile packets over UDP and TCP never crash the server or spoil an answer (seed ${seed})`, {
  timeout: 60_000,
}, async () => {
  console.log(`# dns fuzz seed=${seed} (FUZZ_SEED=${seed} replays it)`);
  const rnd = seededRandom(seed);
  const problems: string[] = [];
  const fail = (what: string) => {
    if (problems.length < 25) problems.push(what);
  };

  // the answers before the flood
  const baseline = new Map<string, string>();
  for (const p of probes) {
    const r = (await udpExchange(server.port, p.q))!;
    assert.equal(decode(r).rcode, 'NOERROR', p.name);
    baseline.set(p.name, aRecords(r));
  }
  assert.match(baseline.get('beijing')!, /127\.0\.3\.1/);
  assert.equal(aRecords((await udpExchange(server.port, ecsQuery))!), baseline.get('beijing'));
  const answers = new Map([
    ['ecs', baseline.get('beijing')!],
    ['plain', aRecords((await udpExchange(server.port, plainQuery))!)],
  ]);
  assert.ok(answers.get('plain')!.length > 0);

  // hostile packets in flight by id: each reply must find its packet exactly once
  interface Pending {
    q: Buffer;
    e: Expect;
    batch: number;
    transport: 'udp' | 'tcp';
  }
  const pending = new Map<number, Pending>();
  let nextId = 0;
  const counts = { sent: 0, udp: 0, tcp: 0, replies: 0, silent: 0, framing: 0, valid: 0 };
  const byKind = new Map<string, number>();
  const onReply = (r: Buffer, transport: 'udp' | 'tcp') => {
    counts.replies++;
    if (r.length < 2) return fail(`${transport}: a reply of ${r.length} bytes`);
    const p = pending.get(r.readUInt16BE(0));
    if (!p) return fail(`${transport}: a reply with id ${r.readUInt16BE(0)} that no packet in flight has`);
    pending.delete(r.readUInt16BE(0));
    if (p.e.silent) return fail(`${p.e.kind}: a reply to a packet that must get none: ${hex(p.q)}`);
    const problem = generalProblems(p.q, r, transport, p.e);
    if (problem) fail(`${p.e.kind} (${transport}): ${problem}; query ${hex(p.q)}`);
  };
  /** Forgets packets of old batches: silence was their answer (allowed only where expected). */
  const retire = (upTo: number) => {
    for (const [id, p] of pending)
      if (p.batch <= upTo) {
        pending.delete(id);
        counts.silent++;
        if (!p.e.silent) fail(`${p.e.kind} (${p.transport}): no reply; query ${hex(p.q)}`);
      }
  };

  const udp = dgram.createSocket('udp4');
  udp.on('message', (m) => onReply(m, 'udp'));
  const probeSock = dgram.createSocket('udp4');
  await Promise.all([
    new Promise<void>((r) => udp.bind(0, HOST, () => r())),
    new Promise<void>((r) => probeSock.bind(0, HOST, () => r())),
  ]);
  udp.setRecvBufferSize(4 << 20);
  let probeWaiter: ((m: Buffer) => void) | null = null;
  probeSock.on('message', (m) => probeWaiter?.(m));

  let tcp: TcpClient | null = null;
  const tcpProbeIds = new Set<number>();
  let tcpProbeWaiter: ((m: Buffer) => void) | null = null;
  const openTcp = async () => {
    const c = new TcpClient(server.port);
    await c.ready();
    // replies in order: hostile ones are checked, the batch's valid query wakes the sender
    void (async () => {
      for (;;) {
        const m = await Promise.race([c.next(), c.closed.then(() => null)]);
        if (m === null) return;
        if (m.length >= 2 && tcpProbeIds.has(m.readUInt16BE(0))) {
          tcpProbeIds.delete(m.readUInt16BE(0));
          tcpProbeWaiter?.(m);
        } else onReply(m, 'tcp');
      }
    })();
    return c;
  };

  const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)),
    ]);

  const combos = Array.from({ length: 65536 }, (_, i) => i);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [combos[i], combos[j]] = [combos[j]!, combos[i]!];
  }
  let combo = 0;

  try {
    for (let batch = 0; counts.sent < HOSTILE; batch++) {
      const transport = batch % TCP_EVERY === TCP_EVERY - 1 ? 'tcp' : 'udp';
      if (transport === 'tcp' && (tcp === null || tcp.sock.destroyed)) tcp = await openTcp();
      const frames: Buffer[] = [];
      for (let i = 0; i < BATCH && counts.sent < HOSTILE; i++) {
        // the flag combinations are spread over the whole run (three in five packets until they run out)
        const left = HOSTILE - counts.sent;
        const useCombo = combo < combos.length && (rnd.int(5) < 3 || left <= combos.length - combo);
        let kind: string;
        let b: Buffer;
        let e: Expect | null;
        if (useCombo) [kind, b, e] = flagCombo(combos[combo++]!, rnd.next() < 0.5, answers);
        else [kind, b, e] = hostile(rnd);
        // over TCP a frame shorter than a header closes the connection: those are sent over UDP
        const via = transport === 'tcp' && b.length >= 12 ? 'tcp' : 'udp';
        e ??= byHeader(kind, b);
        if (b.length >= 2) {
          const id = nextId;
          nextId = (nextId + 1) & 0xffff;
          b.writeUInt16BE(id, 0);
          // 65 536 ids and a few batches in flight: an id is never still pending when it comes round
          if (pending.has(id)) fail(`id ${id} reused while in flight`);
          pending.set(id, { q: b, e, batch, transport: via });
        }
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        counts.sent++;
        if (via === 'udp') {
          counts.udp++;
          udp.send(b, server.port, HOST);
        } else {
          counts.tcp++;
          const f = Buffer.alloc(2 + b.length);
          f.writeUInt16BE(b.length, 0);
          b.copy(f, 2);
          frames.push(f);
        }
      }

      // the valid query: sent after the batch, so its answer means the batch was handled
      const probe = probes[batch % probes.length]!;
      const q = Buffer.from(probe.q);
      // an id from the same sequence: on TCP it must not be one a hostile packet still holds
      q.writeUInt16BE(nextId, 0);
      nextId = (nextId + 1) & 0xffff;
      let answer: Buffer;
      if (transport === 'udp') {
        const got = new Promise<Buffer>((r) => {
          probeWaiter = r;
        });
        probeSock.send(q, server.port, HOST);
        answer = await withTimeout(got, 5000, `valid query ${probe.name} after batch ${batch} (udp)`);
      } else {
        const c = tcp!;
        const got = new Promise<Buffer>((r) => {
          tcpProbeWaiter = r;
        });
        tcpProbeIds.add(q.readUInt16BE(0));
        const qf = Buffer.alloc(2 + q.length);
        qf.writeUInt16BE(q.length, 0);
        q.copy(qf, 2);
        c.sock.write(Buffer.concat([...frames, qf]));
        answer = await withTimeout(got, 5000, `valid query ${probe.name} after batch ${batch} (tcp)`);
      }
      counts.valid++;
      if (answer.readUInt16BE(0) !== q.readUInt16BE(0)) fail(`valid ${probe.name}: wrong id`);
      else if ((answer[3]! & 0x0f) !== 0) fail(`valid ${probe.name}: rcode ${answer[3]! & 0x0f}`);
      else if (aRecords(answer) !== baseline.get(probe.name))
        fail(`valid ${probe.name} after batch ${batch}: ${aRecords(answer)}, expected ${baseline.get(probe.name)}`);
      retire(batch - 2);

      // now and then, garbage framing on a connection of its own: the server must close it
      if (batch % 50 === 25) {
        const g = new TcpClient(server.port);
        await g.ready();
        const garbage = [Buffer.from([0, 0]), Buffer.from([0, 11, ...Array(11).fill(0)]), Buffer.from([0xff, 0xff, 1])];
        g.sock.write(garbage[((batch / 50) % 3) | 0]!);
        await withTimeout(g.closed, 5000, 'a connection sending a garbage frame is closed');
        counts.framing++;
      }
    }
    // the last batches' replies, then what is still pending got silence
    await new Promise((r) => setTimeout(r, 200));
    retire(Number.MAX_SAFE_INTEGER);
  } finally {
    udp.close();
    probeSock.close();
    tcp?.close();
  }

  const stats = server.handler.stats;
  console.log(
    `# dns fuzz seed=${seed} sent=${counts.sent} (udp ${counts.udp}, tcp ${counts.tcp}) replies=${counts.replies} ` +
      `silent=${counts.silent} valid=${counts.valid} framing=${counts.framing} ` +
      `kinds=${JSON.stringify(Object.fromEntries(byKind))} rejected=${JSON.stringify(Object.fromEntries(stats.rejected))}`,
  );
  assert.deepEqual(problems, [], `seed ${seed}`);
  assert.ok(counts.sent >= 100_000);
  assert.ok(counts.tcp > 0 && counts.framing > 0);
  assert.equal(combo, 65536, 'every flag combination was sent');
  assert.equal(stats.rejected.get('internal') ?? 0, 0, 'no packet reached an internal error');

  // still alive and right, over UDP and TCP
  for (const p of probes) assert.equal(aRecords((await udpExchange(server.port, p.q))!), baseline.get(p.name), p.name);
  const c = new TcpClient(server.port);
  await c.ready();
  c.send(probes[0]!.q);
  assert.equal(aRecords(await c.next()), baseline.get('beijing'));
  c.close();
});
