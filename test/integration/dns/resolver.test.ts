// Node's own resolver (c-ares) as a real, independent client.
import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import { dnsTopology, HOST } from './helpers.ts';

describe('dns: c-ares (node:dns Resolver) against the server', () => {
  const topology = dnsTopology();
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  let server: DnsServer;
  let r: dns.Resolver;
  before(async () => {
    server = await startDnsServer({ topology, host: HOST, port: 0, steering });
    r = new dns.Resolver({ timeout: 3000, tries: 2 });
    r.setServers([`${HOST}:${server.port}`]);
  });
  after(() => server.close());

  test('dns: resolve4 answers what steering decides for the resolver address', async () => {
    const got = await r.resolve4('api.shop.test', { ttl: true });
    const want = steering.decide({ service: 'api.shop.test', client: '127.0.0.1', family: 4 });
    assert.deepEqual(
      got.map((a) => a.address),
      want.endpoints.map((e) => e.host),
    );
    assert.ok(got.every((a) => a.ttl === 60));
  });

  test('dns: resolve6 answers the zones IPv6 addresses', async () => {
    const got = await r.resolve6('api.shop.test');
    assert.deepEqual([...got].sort(), ['2001:db8:2::1', '2001:db8:3::1']);
  });

  test('dns: resolveSoa and resolveNs at the apex', async () => {
    const soa = await r.resolveSoa('shop.test');
    assert.equal(soa.nsname, 'ns1.shop.test');
    assert.equal(soa.hostmaster, 'hostmaster.shop.test');
    assert.equal(soa.minttl, 60);
    assert.deepEqual(await r.resolveNs('shop.test'), [
      'ns1.shop.test',
      'ns2.shop.test',
      'ns3.shop.test',
      'ns4.shop.test',
    ]);
  });

  test('dns: resolveTxt and resolveCname from config', async () => {
    assert.deepEqual(await r.resolveTxt('txt.shop.test'), [['v=spf1 -all'], ['hello world']]);
    assert.deepEqual(await r.resolveCname('www.shop.test'), ['api.shop.test']);
    // A through the CNAME
    assert.ok((await r.resolve4('www.shop.test')).length > 0);
  });

  test('dns: ENOTFOUND for NXDOMAIN, ENODATA for NODATA', async () => {
    await assert.rejects(r.resolve4('nope.shop.test'), { code: 'ENOTFOUND' });
    await assert.rejects(r.resolveTxt('api.shop.test'), { code: 'ENODATA' });
    await assert.rejects(r.resolve4('x.shop.test'), { code: 'ENODATA' });
  });

  test('dns: REFUSED outside the apex', async () => {
    await assert.rejects(r.resolve4('example.com'), { code: 'EREFUSED' });
  });
});

describe('dns: c-ares over IPv6 (a udp6 socket sends to the querier literal as given)', () => {
  const topology = dnsTopology();
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  let server: DnsServer;
  before(async () => {
    server = await startDnsServer({ topology, host: '::1', port: 0, steering });
  });
  after(() => server.close());

  test('dns: resolve4 and resolve6 over [::1] answer what steering decides for ::1', async () => {
    const r = new dns.Resolver({ timeout: 3000, tries: 2 });
    r.setServers([`[::1]:${server.port}`]);
    const want = steering.decide({ service: 'api.shop.test', client: '::1', family: 4 });
    assert.deepEqual((await r.resolve4('api.shop.test')).sort(), want.endpoints.map((e) => e.host).sort());
    assert.deepEqual((await r.resolve6('api.shop.test')).sort(), ['2001:db8:2::1', '2001:db8:3::1']);
  });
});
