import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsTopology } from '../../test/integration/dns/helpers.ts';
import { compileZone } from './zone-data.ts';

test('dns/zone: defaults give ns1..n glued to the zones and SOA names under the apex', () => {
  const t = dnsTopology();
  const z = compileZone(t, t.config.dns);
  assert.deepEqual(z.nsNames, ['ns1.shop.test', 'ns2.shop.test', 'ns3.shop.test', 'ns4.shop.test']);
  assert.deepEqual(
    z.glue.get('ns2.shop.test')!.a.map((r) => (r as { data: string }).data),
    ['127.0.2.1'],
  );
  assert.equal((z.soa as { data: { mname: string; rname: string } }).data.mname, 'ns1.shop.test');
  assert.ok(z.names.has('x.shop.test'), 'empty non-terminal');
  assert.ok(!z.names.has('nope.shop.test'));
});

test('dns/zone: configured NS names and SOA fields', () => {
  const t = dnsTopology(`dns:
  ns: { a.ns.shop.test: bj-a, ns.other.net: sh-a }
  soa: { rname: dns.example.org, serial: 42, minimum: 30 }
`);
  const z = compileZone(t, t.config.dns);
  assert.deepEqual(z.nsNames, ['a.ns.shop.test', 'ns.other.net']);
  assert.ok(z.glue.has('a.ns.shop.test'));
  assert.ok(!z.glue.has('ns.other.net'), 'no glue outside the zone');
  assert.equal(z.negativeTtl, 30);
  assert.equal((z.soa as { data: { mname: string; serial: number } }).data.mname, 'a.ns.shop.test');
});

test('dns/zone: an NS name glued to an unknown zone stops startup', () => {
  const t = dnsTopology('dns:\n  ns: { ns1.shop.test: nowhere }\n');
  assert.throws(() => compileZone(t, t.config.dns), { code: 'ERR_DNS_BAD_CONFIG' });
});
