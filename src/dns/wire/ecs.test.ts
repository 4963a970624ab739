import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ecsAddress, encodeEcsEcho, parseEcs } from './ecs.ts';

test('dns/ecs: parses IPv4 and IPv6 subnets', () => {
  const v4 = parseEcs(Buffer.from([0, 1, 24, 0, 1, 2, 4]));
  assert.ok(typeof v4 !== 'string');
  assert.equal(ecsAddress(v4), '1.2.4.0');
  assert.equal(v4.sourcePrefix, 24);
  assert.equal(v4.family, 4);
  const v6 = parseEcs(Buffer.from([0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00]));
  assert.ok(typeof v6 !== 'string');
  assert.equal(ecsAddress(v6), '2001:db8:100:0:0:0:0:0');
  const zero = parseEcs(Buffer.from([0, 1, 0, 0]));
  assert.ok(typeof zero !== 'string' && zero.sourcePrefix === 0 && ecsAddress(zero) === '0.0.0.0');
});

test('dns/ecs: malformed options give a reason', () => {
  const cases: [number[], string][] = [
    [[0, 1, 24], 'ecs-short'],
    [[0, 3, 24, 0, 1, 2, 4], 'ecs-family'],
    [[0, 1, 33, 0, 1, 2, 3, 4, 5], 'ecs-prefix'],
    [[0, 2, 129, 0], 'ecs-prefix'],
    [[0, 1, 24, 0, 1, 2], 'ecs-address-length'],
    [[0, 1, 24, 0, 1, 2, 4, 0], 'ecs-address-length'],
    [[0, 1, 22, 0, 1, 2, 5], 'ecs-address-bits'],
  ];
  for (const [bytes, reason] of cases) assert.equal(parseEcs(Buffer.from(bytes)), reason, bytes.join(','));
});

test('dns/ecs: the echo repeats family, source and address with our scope', () => {
  const e = parseEcs(Buffer.from([0, 1, 22, 0, 1, 2, 4]));
  assert.ok(typeof e !== 'string');
  assert.deepEqual([...encodeEcsEcho(e, 20)], [0, 1, 22, 20, 1, 2, 4]);
  assert.equal(encodeEcsEcho(e, 99)[3], 32, 'scope clamped to the family');
});
