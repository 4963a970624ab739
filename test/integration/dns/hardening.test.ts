// Error replies and EDNS (RFC 6891 §7), opcodes other than QUERY, TSIG without keys (RFC 8945
// §5.2), padding left to encrypted transports (RFC 8467), over raw UDP and TCP and with dig.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ManualClock } from '../../../src/core/clock.ts';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import {
  decode,
  digPresent,
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

const run = promisify(execFile);

type OptView = {
  type: string;
  udpPayloadSize?: number;
  extendedRcode?: number;
  flags?: number;
  options?: { code: number; data?: Buffer }[];
};
const optOf = (b: Buffer) => decode(b).additionals.find((a) => a.type === 'OPT') as OptView | undefined;

describe('dns: hardening', async () => {
  const present = await digPresent();
  const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  // wall time 2026-01-01T00:00:00Z, for the TSIG time signed
  const clock = new ManualClock(0, 1_767_225_600_000);
  let server: DnsServer;
  before(async () => {
    server = await startDnsServer({ topology, host: HOST, port: 0, steering, clock });
  });
  after(() => server?.close());
  const ask = async (q: Buffer) => {
    const r = await udpExchange(server.port, q);
    assert.ok(r, 'a reply');
    return r;
  };
  const dig = async (...args: string[]) =>
    (await run('dig', [`@${HOST}`, '-p', String(server.port), '+tries=1', '+time=3', ...args])).stdout;

  test('dns: NOTIMP and FORMERR replies to a query with EDNS carry an OPT; without EDNS none', async () => {
    const edns = optRr(Buffer.alloc(0), { do: true });
    const cases: [string, Buffer, number][] = [
      // opcode 5 (UPDATE), one question, an OPT
      ['notimp', Buffer.concat([header(1, (5 << 3) | 1, 0, 1, 0, 0, 1), QUESTION, edns]), 4],
      // no question at all (dig +header-only)
      ['qdcount 0', Buffer.concat([header(2, 1, 0, 0, 0, 0, 1), edns]), 1],
      // two questions
      ['qdcount 2', Buffer.concat([header(3, 1, 0, 2, 0, 0, 1), QUESTION, QUESTION, edns]), 1],
      // trailing bytes after a well-formed query with OPT
      ['trailing', Buffer.concat([header(4, 1, 0, 1, 0, 0, 1), QUESTION, edns, Buffer.from([1, 2, 3])]), 1],
    ];
    for (const [what, q, rcode] of cases) {
      const r = await ask(q);
      assert.equal(r.readUInt16BE(0), q.readUInt16BE(0), what);
      assert.equal(r[3]! & 0x0f, rcode, what);
      const opt = optOf(r);
      assert.ok(opt, `${what}: the reply has an OPT`);
      assert.equal(opt.udpPayloadSize, 1232, what);
      assert.equal((opt.flags ?? 0) & 0x8000, 0x8000, `${what}: DO copied`);
      // the same without the OPT: no OPT in the reply
      const plain = Buffer.from(q.subarray(0, q.length - edns.length - (what === 'trailing' ? 3 : 0)));
      plain.writeUInt16BE(0, 10);
      const p = await ask(what === 'trailing' ? Buffer.concat([plain, Buffer.from([1, 2, 3])]) : plain);
      assert.equal(p[3]! & 0x0f, rcode, what);
      assert.equal(p.readUInt16BE(10), 0, `${what}: no OPT without EDNS`);
    }
  });

  test('dns: a malformed OPT gets FORMERR with an OPT (RFC 6891 §7)', async () => {
    const base = Buffer.concat([header(9, 1, 0, 1, 0, 0, 1), QUESTION]);
    const twoOpt = Buffer.concat([
      header(9, 1, 0, 1, 0, 0, 2),
      QUESTION,
      optRr(Buffer.alloc(0)),
      optRr(Buffer.alloc(0)),
    ]);
    const cases: [string, Buffer][] = [
      ['option framing overruns the rdata', Buffer.concat([base, optRr(Buffer.from([0, 10, 0, 9, 1, 2]))])],
      ['OPT owner not the root', Buffer.concat([base, optRr(Buffer.alloc(0), { owner: wireName('x') })])],
      ['two OPTs', twoOpt],
      ['ECS family 3', Buffer.concat([base, optRr(Buffer.from([0, 8, 0, 7, 0, 3, 24, 0, 1, 2, 4]))])],
    ];
    for (const [what, q] of cases) {
      const r = await ask(q);
      assert.equal(r[3]! & 0x0f, 1, what);
      assert.ok(optOf(r), `${what}: the FORMERR has an OPT`);
      assert.equal(decode(r).questions.length, 1, `${what}: question echoed`);
    }
  });

  test('dns: the reply to an unknown opcode copies RD but not CD', async () => {
    for (const opcode of [1, 2, 3, 6, 15]) {
      const q = Buffer.concat([header(0x4242, (opcode << 3) | 1, 0x10, 1, 0, 0, 0), QUESTION]);
      const r = await ask(q);
      assert.equal(r[3]! & 0x0f, 4, `opcode ${opcode}: NOTIMP`);
      assert.equal((r[2]! >> 3) & 0x0f, opcode, 'opcode copied');
      assert.equal(r[2]! & 0x01, 1, 'RD copied');
      assert.equal(r[3]! & 0x10, 0, 'CD not copied');
      assert.equal(r[2]! & 0x04, 0, 'not authoritative');
      const noRd = Buffer.from(q);
      noRd[2] = opcode << 3;
      assert.equal((await ask(noRd))[2]! & 0x01, 0, 'RD stays clear');
    }
    // a QUERY still copies both
    const q = Buffer.concat([header(1, 1, 0x10, 1, 0, 0, 0), QUESTION]);
    const r = await ask(q);
    assert.equal(r[2]! & 0x01, 1);
    assert.equal(r[3]! & 0x10, 0x10);
  });

  test('dns: a TSIG-signed query gets NOTAUTH with an unsigned TSIG, error BADKEY (RFC 8945 §5.2)', async () => {
    const msg = Buffer.concat([header(0x1234, 1, 0, 1, 0, 0, 0), QUESTION]);
    const time = 1_767_225_000;
    const q = withAdditional(msg, tsigRr(msg, 'mz-key', Buffer.from('not a key we know'), time, 300));
    for (const transport of ['udp', 'tcp'] as const) {
      let r: Buffer;
      if (transport === 'udp') r = await ask(q);
      else {
        const c = new TcpClient(server.port);
        await c.ready();
        c.send(q);
        r = await c.next();
        c.close();
      }
      const p = decode(r);
      assert.equal(p.id, 0x1234);
      assert.equal(r[3]! & 0x0f, 9, `${transport}: NOTAUTH`);
      assert.equal(p.answers.length, 0);
      assert.equal(p.questions[0]?.name, 'api.shop.test');
      const last = p.additionals.at(-1) as { name: string; type: string; class: string; ttl: number; data: Buffer };
      assert.equal(last.name, 'mz-key');
      assert.equal(last.type, 'TSIG');
      assert.equal(last.class, 'ANY');
      assert.equal(last.ttl, 0);
      // rdata: algorithm, time signed (our clock), fudge, MAC size 0, original id, error 17, other len 0
      const d = last.data;
      const alg = wireName('hmac-sha256');
      assert.deepEqual(d.subarray(0, alg.length), alg);
      let o = alg.length;
      assert.equal(d.readUInt16BE(o) * 2 ** 32 + d.readUInt32BE(o + 2), 1_767_225_600, 'time signed = now');
      assert.equal(d.readUInt16BE(o + 6), 300, 'fudge copied');
      assert.equal(d.readUInt16BE(o + 8), 0, 'MAC size 0');
      o += 10;
      assert.equal(d.readUInt16BE(o), 0x1234, 'original id');
      assert.equal(d.readUInt16BE(o + 2), 17, 'BADKEY');
      assert.equal(d.readUInt16BE(o + 4), 0, 'no other data');
      assert.equal(d.length, o + 6);
    }
    // with EDNS: OPT first, TSIG last
    const withOpt = withAdditional(msg, optRr(Buffer.alloc(0)));
    const signed = withAdditional(withOpt, tsigRr(withOpt, 'mz-key', Buffer.from('k'), time));
    const r = decode(await ask(signed));
    assert.deepEqual(
      r.additionals.map((a) => a.type),
      ['OPT', 'TSIG'],
    );
    // a TSIG that is not the last record, or that cannot be read, is FORMERR (§5.1, §5.2)
    const notLast = withAdditional(
      withAdditional(msg, tsigRr(msg, 'mz-key', Buffer.from('k'), time)),
      optRr(Buffer.alloc(0)),
    );
    assert.equal((await ask(notLast))[3]! & 0x0f, 1);
    // rdata cut short: the MAC runs past the record
    const whole = tsigRr(msg, 'mz-key', Buffer.from('k'), time);
    const keyLen = wireName('mz-key').length;
    const short = Buffer.from(whole.subarray(0, keyLen + 10 + 30));
    short.writeUInt16BE(30, keyLen + 8);
    const broken = withAdditional(msg, short);
    assert.equal((await ask(broken))[3]! & 0x0f, 1);
  });

  test('dns: dig sees no +noedns advice on FORMERR and NOTIMP', { skip: !present && 'dig not installed' }, async () => {
    const formerr = await dig('+header-only', 'api.shop.test', 'A');
    assert.match(formerr, /status: FORMERR/);
    assert.match(formerr, /OPT PSEUDOSECTION/);
    assert.doesNotMatch(formerr, /\+noedns/);
    const notimp = await dig('+opcode=5', 'api.shop.test', 'A');
    assert.match(notimp, /status: NOTIMP/);
    assert.match(notimp, /OPT PSEUDOSECTION/);
    assert.doesNotMatch(notimp, /\+noedns/);
  });

  test('dns: dig -y gets NOTAUTH with TSIG error BADKEY', { skip: !present && 'dig not installed' }, async () => {
    const secret = Buffer.from('a secret nobody configured').toString('base64');
    const out = await dig('-y', `hmac-sha256:mz-key:${secret}`, 'api.shop.test', 'A').catch(
      (e: { stdout: string }) => e.stdout,
    );
    assert.match(out, /status: NOTAUTH/, out);
    assert.match(out, /BADKEY/, out);
  });

  test('dns: padding is left to encrypted transports: UDP and TCP replies are not padded', async () => {
    const padded = query('api.shop.test', 'A', { edns: true });
    const q = Buffer.concat([padded.subarray(0, padded.length - 2), Buffer.from([0, 8, 0, 12, 0, 4, 0, 0, 0, 0])]);
    const r = await ask(q);
    assert.equal(decode(r).rcode, 'NOERROR');
    assert.equal(
      optOf(r)?.options?.some((o) => o.code === 12),
      false,
    );
  });
});
