import assert from 'node:assert/strict';
import { test } from 'node:test';
import { query } from '../../../test/integration/dns/helpers.ts';
import { CommonQuery, nameHash, readCommonQuery, wireName } from './common-query.ts';

const read = (raw: Buffer) => {
  const q = new CommonQuery();
  return readCommonQuery(raw, q) ? q : null;
};

test('dns wire: readCommonQuery takes one A/AAAA question with an optional OPT and ECS', () => {
  const plain = read(query('Api.Shop.test', 'A'));
  assert.ok(plain);
  assert.equal(plain.qtype, 1);
  assert.equal(plain.hasOpt, false);
  assert.equal(plain.questionEnd, 12 + 15 + 4);
  const wire = wireName('api.shop.test')!;
  assert.equal(plain.nameHash, nameHash(wire, 0, wire.length), 'the hash ignores letter case');

  const ecs = read(query('api.shop.test', 'AAAA', { ecs: { ip: '1.2.4.0', prefix: 22 }, udp: 4096 }));
  assert.ok(ecs);
  assert.deepEqual(
    [ecs.qtype, ecs.hasOpt, ecs.udpSize, ecs.ecsFamily, ecs.ecsSource, ecs.ecsAddrLength],
    [28, true, 4096, 4, 22, 3],
  );
  assert.ok(read(query('api.shop.test', 'A', { edns: true, cookie: Buffer.alloc(8) })), 'other options are fine');
});

test('dns wire: readCommonQuery leaves every other shape to the full parser', () => {
  const withByte = (q: Buffer, at: number, v: number) => {
    const b = Buffer.from(q);
    b[at] = v;
    return b;
  };
  const a = query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } });
  const cases: [string, Buffer][] = [
    ['TXT', query('api.shop.test', 'TXT')],
    ['EDNS version 1', query('api.shop.test', 'A', { version: 1 })],
    ['QR set', withByte(a, 2, 0x80)],
    ['opcode 5', withByte(a, 2, 5 << 3)],
    ['qdcount 2', withByte(a, 5, 2)],
    ['ancount 1', withByte(a, 7, 1)],
    ['class CH', withByte(a, 12 + 15 + 3, 3)],
    ['a dot inside a label', withByte(a, 13, 46)],
    ['truncated', a.subarray(0, a.length - 1)],
    ['trailing byte', Buffer.concat([a, Buffer.from([0])])],
    ['ECS source prefix 33', withByte(a, a.length - 5, 33)],
    [
      'ECS bits past the prefix',
      withByte(query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 22 } }), a.length - 1, 7),
    ],
  ];
  for (const [what, raw] of cases) assert.equal(read(raw), null, what);
});
