import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidrSet, clientAddress, socketAddress } from './client-ip.ts';

test('httpdns/client-ip: CIDR sets match IPv4 and IPv6 by prefix', () => {
  const s = new CidrSet(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  assert.ok(s.has('10.255.1.2'));
  assert.ok(!s.has('11.0.0.1'));
  assert.ok(s.has('192.0.2.7'));
  assert.ok(!s.has('192.0.2.8'));
  assert.ok(s.has('2001:db8:ffff::1'));
  assert.ok(!s.has('2001:db9::1'));
  assert.ok(!s.has('garbage'));
  assert.throws(() => new CidrSet(['10.0.0.0/33']), { code: 'ERR_HTTPDNS_BAD_CIDR' });
});

test('httpdns/client-ip: X-Forwarded-For only from trusted proxies, right-most untrusted hop wins', () => {
  const trusted = new CidrSet(['127.0.0.1', '10.0.0.0/8']);
  assert.equal(clientAddress('203.0.113.5', '1.2.3.4', trusted), '203.0.113.5');
  assert.equal(clientAddress('127.0.0.1', undefined, trusted), '127.0.0.1');
  assert.equal(clientAddress('127.0.0.1', '1.2.3.4', trusted), '1.2.3.4');
  assert.equal(clientAddress('127.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2', trusted), '1.2.3.4');
  assert.equal(clientAddress('127.0.0.1', ['6.6.6.6', '1.2.3.4'], trusted), '1.2.3.4');
  assert.equal(clientAddress('127.0.0.1', '10.0.0.3', trusted), '10.0.0.3');
  assert.equal(clientAddress('127.0.0.1', 'x'.repeat(100), trusted), '127.0.0.1');
  assert.equal(clientAddress('127.0.0.1', '1.2.3.4', new CidrSet([])), '127.0.0.1');
  assert.equal(socketAddress('::ffff:1.2.3.4'), '1.2.3.4');
  assert.equal(socketAddress('::1'), '::1');
});
