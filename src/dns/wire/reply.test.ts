import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { decode } from '../../../test/integration/dns/helpers.ts';
import { encodeReply, padReply, patchReply } from './reply.ts';

const query = dnsPacket.encode({
  id: 0xbeef,
  type: 'query',
  flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED,
  questions: [{ name: 'WwW.Shop.Test', type: 'A', class: 'IN' }],
});
const qEnd = query.length;

test('dns/wire: encodeReply round-trips through dns-packet with an exact length', () => {
  const r = encodeReply({
    query,
    questionEnd: qEnd,
    rcode: 0,
    aa: true,
    answers: [
      { name: 'www.shop.test', type: 'A', ttl: 60, data: '127.0.0.1' },
      { name: 'www.shop.test', type: 'TXT', ttl: 5, data: 'hi' },
    ],
    authorities: [{ name: 'shop.test', type: 'NS', ttl: 3600, data: 'ns1.shop.test' }],
    additionals: [{ name: 'ns1.shop.test', type: 'A', ttl: 3600, data: '127.0.0.2' }],
    opt: { udpSize: 1232, do: true, options: [{ code: 8, data: Buffer.from([0, 1, 24, 24, 1, 2, 3]) }] },
  });
  const p = decode(r);
  assert.equal(dnsPacket.decode.bytes, r.length, 'no slack bytes');
  assert.equal(p.id, 0xbeef);
  assert.equal(p.type, 'response');
  assert.equal(p.flag_aa, true);
  assert.equal(p.flag_rd, true);
  assert.equal(p.flag_cd, true);
  assert.equal(p.flag_ra, false);
  assert.equal(p.questions[0]!.name, 'WwW.Shop.Test');
  assert.equal(p.answers.length, 2);
  assert.equal(p.authorities.length, 1);
  assert.equal(p.additionals.length, 2);
  const opt = p.additionals[1] as unknown as {
    udpPayloadSize: number;
    flag_do: boolean;
    options: { code: number; ip: string; scopePrefixLength: number }[];
  };
  assert.equal(opt.udpPayloadSize, 1232);
  assert.equal(opt.flag_do, true);
  assert.equal(opt.options[0]!.ip, '1.2.3.0');
  assert.equal(opt.options[0]!.scopePrefixLength, 24);
});

test('dns/wire: extended rcodes put their upper bits in the OPT', () => {
  const r = encodeReply({
    query,
    questionEnd: qEnd,
    rcode: 16,
    aa: false,
    opt: { udpSize: 512, do: false, options: [] },
  });
  assert.equal(r[3]! & 0x0f, 0);
  assert.equal((decode(r).additionals[0] as unknown as { extendedRcode: number }).extendedRcode, 1);
});

test('dns/wire: header-only replies and TC', () => {
  const r = encodeReply({ query, questionEnd: 12, rcode: 1, aa: false, tc: true, opt: null });
  assert.equal(r.length, 12);
  const p = decode(r);
  assert.equal(p.questions.length, 0);
  assert.equal(p.flag_tc, true);
  assert.equal(p.rcode, 'FORMERR');
});

test('dns/wire: patchReply takes id, RD/CD and question case from the new query, copying', () => {
  const cached = encodeReply({
    query,
    questionEnd: qEnd,
    rcode: 0,
    aa: true,
    answers: [{ name: 'www.shop.test', type: 'A', ttl: 1, data: '1.1.1.1' }],
    opt: null,
  });
  const other = dnsPacket.encode({
    id: 7,
    type: 'query',
    flags: 0,
    questions: [{ name: 'www.SHOP.test', type: 'A', class: 'IN' }],
  });
  const out = patchReply(cached, other, 15);
  const p = decode(out);
  assert.equal(p.id, 7);
  assert.equal(p.flag_rd, false);
  assert.equal(p.flag_cd, false);
  assert.equal(p.flag_aa, true);
  assert.equal(p.questions[0]!.name, 'www.SHOP.test');
  assert.equal(decode(cached).id, 0xbeef, 'the cached bytes are untouched');
});

test('dns/wire: address records owned by the question are compressed to it; others spelled out', () => {
  const rrs: dnsPacket.Answer[] = [
    { name: 'www.shop.test', type: 'A', ttl: 60, data: '127.0.3.1' },
    { name: 'www.shop.test', type: 'AAAA', ttl: 30, data: '2001:db8::7' },
    { name: 'other.shop.test', type: 'A', ttl: 60, data: '127.0.4.1' },
  ];
  const plain = encodeReply({ query, questionEnd: qEnd, rcode: 0, aa: true, answers: rrs, opt: null });
  const lean = encodeReply({
    query,
    questionEnd: qEnd,
    rcode: 0,
    aa: true,
    answers: rrs,
    opt: null,
    qname: 'www.shop.test',
  });
  // two owners of 15 bytes each became 2-byte pointers
  assert.equal(plain.length - lean.length, 2 * 13);
  const p = decode(lean);
  assert.equal(dnsPacket.decode.bytes, lean.length, 'no slack bytes');
  assert.deepEqual(
    p.answers.map((a) => [a.name, a.type, (a as { ttl: number }).ttl, (a as { data: string }).data]),
    [
      ['WwW.Shop.Test', 'A', 60, '127.0.3.1'],
      ['WwW.Shop.Test', 'AAAA', 30, '2001:db8::7'],
      ['other.shop.test', 'A', 60, '127.0.4.1'],
    ],
  );
  // a reply without its question cannot point at it
  const bare = encodeReply({
    query,
    questionEnd: 12,
    rcode: 0,
    aa: true,
    answers: rrs,
    opt: null,
    qname: 'www.shop.test',
  });
  assert.equal(decode(bare).answers[0]!.name, 'www.shop.test');
});

test('dns/wire: padReply pads through the OPT to a block multiple; copyCd false clears CD; tsig ends the message', () => {
  const tsig = Buffer.from([0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
  const r = encodeReply({
    query,
    questionEnd: qEnd,
    rcode: 9,
    aa: false,
    opt: { udpSize: 1232, do: false, options: [{ code: 8, data: Buffer.from([0, 1, 24, 0, 1, 2, 3]) }] },
    copyCd: false,
    tsig,
  });
  assert.equal(decode(r).flag_cd, false);
  assert.equal(decode(r).flag_rd, true);
  assert.deepEqual(r.subarray(r.length - tsig.length), tsig);
  for (const block of [468, 128, r.length + 4]) {
    const p = padReply(r, block);
    assert.equal(p.length % block, 0, `block ${block}`);
    const d = decode(p);
    assert.equal(dnsPacket.decode.bytes, p.length);
    const opt = d.additionals.find((a) => a.type === 'OPT') as unknown as { options: { code: number; data: Buffer }[] };
    assert.deepEqual(
      opt.options.map((o) => o.code),
      [8, 12],
    );
    assert.ok(opt.options[1]!.data.every((b) => b === 0));
    assert.deepEqual(p.subarray(p.length - tsig.length), tsig, 'the TSIG stays last');
  }
  const noOpt = encodeReply({ query, questionEnd: qEnd, rcode: 0, aa: true, opt: null });
  assert.equal(padReply(noOpt, 468), noOpt);
});
