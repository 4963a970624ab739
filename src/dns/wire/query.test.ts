import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { ednsOptions, expandName, findOpt, hasOption, parseQuery, questionEndOf, skipName } from './query.ts';

const q = (name: string, type: dnsPacket.RecordType = 'A', extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({ id: 7, type: 'query', flags: 0, questions: [{ name, type, class: 'IN' }], ...extra });

test('dns/wire: parses a query, lowercasing the name and keeping offsets', () => {
  const buf = q('Api.SHOP.test', 'AAAA');
  const r = parseQuery(buf);
  assert.ok(r.ok);
  assert.equal(r.query.name, 'api.shop.test');
  assert.equal(r.query.qtype, 28);
  assert.equal(r.query.qclass, 1);
  assert.equal(r.query.nameLength, 15);
  assert.equal(r.query.questionEnd, buf.length);
  assert.equal(r.query.opt, null);
  assert.equal(r.query.odd, false);
  assert.equal(questionEndOf(buf), buf.length);
});

test('dns/wire: reads the OPT record and its options', () => {
  const buf = q('a.b', 'A', {
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 4000,
        flags: dnsPacket.DNSSEC_OK,
        options: [{ code: 10, data: Buffer.from('12345678', 'hex') }],
      } as unknown as dnsPacket.Answer,
    ],
  });
  const r = parseQuery(buf);
  assert.ok(r.ok);
  assert.equal(r.query.opt?.udpSize, 4000);
  assert.equal(r.query.opt?.do, true);
  assert.equal(r.query.opt?.version, 0);
  assert.deepEqual(
    ednsOptions(buf, r.query.opt!).map((o) => [o.code, o.data.toString('hex')]),
    [[10, '12345678']],
  );
});

test('dns/wire: root name, and names with dots inside labels are flagged odd', () => {
  const root = parseQuery(q('.', 'NS'));
  assert.ok(root.ok && root.query.name === '');
  const odd = Buffer.concat([q('x').subarray(0, 12), Buffer.from([3, 97, 46, 98, 0, 0, 1, 0, 1])]);
  const r = parseQuery(odd);
  assert.ok(r.ok && r.query.odd);
});

test('dns/wire: malformed queries fail with a reason, never throw', () => {
  const good = q('shop.test');
  const set = (off: number, v: number) => {
    const b = Buffer.from(good);
    b.writeUInt16BE(v, off);
    return b;
  };
  const cases: [string, Buffer, string, string][] = [
    ['empty', Buffer.alloc(0), 'short', 'short'],
    ['11 bytes', good.subarray(0, 11), 'short', 'short'],
    ['response', Buffer.from([0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0]), 'response', 'qr-set'],
    ['opcode 5', Buffer.from([0, 1, 5 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0]), 'notimp', 'opcode'],
    ['qdcount 0', set(4, 0), 'formerr', 'qdcount'],
    ['qdcount 2', set(4, 2), 'formerr', 'qdcount'],
    ['no type/class', good.subarray(0, good.length - 4), 'formerr', 'truncated-question'],
    ['cut in a label', good.subarray(0, 15), 'formerr', 'truncated-question'],
    ['ancount 1, no record', set(6, 1), 'formerr', 'bad-record'],
    ['arcount 1, no record', set(10, 1), 'formerr', 'bad-record'],
    ['trailing byte', Buffer.concat([good, Buffer.from([0])]), 'formerr', 'trailing-bytes'],
  ];
  for (const [what, buf, error, reason] of cases) {
    const r = parseQuery(buf);
    assert.equal(r.ok, false, what);
    if (!r.ok) {
      assert.equal(r.error, error, what);
      assert.equal(r.reason, reason, what);
    }
  }
});

test('dns/wire: two OPT records and a bad option length are FORMERR', () => {
  const opt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
  const base = q('shop.test');
  const two = Buffer.concat([base, opt, opt]);
  two.writeUInt16BE(2, 10);
  const r = parseQuery(two);
  assert.ok(!r.ok && r.reason === 'two-opt');
  const badOpt = Buffer.concat([base, Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 6, 0, 8, 0, 9, 0, 1])]);
  badOpt.writeUInt16BE(1, 10);
  const b = parseQuery(badOpt);
  assert.ok(!b.ok && b.reason === 'bad-option');
});

test('dns/wire: skipName follows backward pointers only', () => {
  const buf = Buffer.from([1, 97, 0, 0xc0, 0, 0xc0, 5, 0xc0, 9]);
  assert.equal(skipName(buf, 0), 3);
  assert.equal(skipName(buf, 3), 5); // pointer to offset 0
  assert.equal(skipName(buf, 5), -1); // points at itself
  assert.equal(skipName(buf, 7), -1); // forward pointer
  assert.equal(skipName(Buffer.from([0x40, 0]), 0), -1); // extended label type
  assert.equal(skipName(Buffer.from([5, 97]), 0), -1); // out of bounds
});

test('dns/wire: parser survives every truncation and byte flip of a query', () => {
  const buf = q('www.example.shop.test', 'TXT', {
    additionals: [
      {
        type: 'OPT',
        name: '.',
        udpPayloadSize: 1232,
        options: [{ code: 8, family: 1, sourcePrefixLength: 24, scopePrefixLength: 0, ip: '1.2.3.0' }],
      } as unknown as dnsPacket.Answer,
    ],
  });
  for (let n = 0; n <= buf.length; n++) parseQuery(buf.subarray(0, n));
  for (let i = 0; i < buf.length; i++)
    for (const v of [0, 0xff, 0xc0, 0x3f, 1]) {
      const b = Buffer.from(buf);
      b[i] = v;
      parseQuery(b);
      questionEndOf(b);
    }
});

test('dns/wire: findOpt finds the OPT of messages that do not parse, and hasOption reads its options', () => {
  const opt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 4, 0, 12, 0, 0]);
  const base = q('shop.test');
  const withOpt = (b: Buffer, ar = 1) => {
    const out = Buffer.concat([b, opt]);
    out.writeUInt16BE(ar, 10);
    return out;
  };
  const header = Buffer.from(base.subarray(0, 12));
  header.writeUInt16BE(0, 4);
  const cases: [string, Buffer][] = [
    ['well formed', withOpt(base)],
    ['no question', withOpt(header)],
    [
      'opcode 5',
      (() => {
        const b = withOpt(base);
        b[2] = 5 << 3;
        return b;
      })(),
    ],
    ['trailing bytes', Buffer.concat([withOpt(base), Buffer.from([9, 9])])],
    [
      'two OPTs',
      (() => {
        const b = Buffer.concat([withOpt(base, 2), opt]);
        return b;
      })(),
    ],
  ];
  for (const [what, b] of cases) {
    const f = findOpt(b);
    assert.ok(f, what);
    assert.equal(f.do, true, what);
    assert.equal(hasOption(b, f, 12), true, what);
    assert.equal(hasOption(b, f, 8), false, what);
  }
  assert.equal(findOpt(base), null);
  assert.equal(findOpt(Buffer.from([1, 2, 3])), null);
  const hugeQd = withOpt(base);
  hugeQd.writeUInt16BE(65535, 4);
  assert.equal(findOpt(hugeQd), null, 'counts past the packet end: no OPT found, no throw');
});

test('dns/wire: a TSIG record must be last and readable; its offsets are kept', () => {
  const base = q('shop.test');
  const alg = Buffer.from([4, 104, 109, 97, 99, 0]); // "hmac."
  const rdata = Buffer.concat([alg, Buffer.from([0, 0, 0, 0, 0, 1, 1, 44, 0, 2, 0xaa, 0xbb, 0, 7, 0, 0, 0, 0])]);
  const rr = (cls = 255) => {
    const head = Buffer.from([0xc0, 12, 0, 250, 0, cls, 0, 0, 0, 0, 0, rdata.length]);
    return Buffer.concat([head, rdata]);
  };
  const signed = Buffer.concat([base, rr()]);
  signed.writeUInt16BE(1, 10);
  const r = parseQuery(signed);
  assert.ok(r.ok && r.query.tsig);
  const t = r.query.tsig;
  assert.equal(signed.readUInt16BE(t.fudgeAt), 300);
  assert.equal(signed.readUInt16BE(t.originalIdAt), 7);
  assert.deepEqual(expandName(signed, t.start), Buffer.from([4, 115, 104, 111, 112, 4, 116, 101, 115, 116, 0]));
  const opt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
  const notLast = Buffer.concat([base, rr(), opt]);
  notLast.writeUInt16BE(2, 10);
  const n = parseQuery(notLast);
  assert.ok(!n.ok && n.reason === 'tsig-not-last');
  const wrongClass = Buffer.concat([base, rr(1)]);
  wrongClass.writeUInt16BE(1, 10);
  const w = parseQuery(wrongClass);
  assert.ok(!w.ok && w.reason === 'tsig-malformed');
  // other len claims a byte that is not there
  const cut = Buffer.from(signed);
  cut.writeUInt16BE(1, cut.length - 2);
  const c = parseQuery(cut);
  assert.ok(!c.ok && c.reason === 'tsig-malformed');
  assert.equal(expandName(Buffer.from([0xc0, 0]), 0), null, 'a pointer loop cannot be expanded');
});
