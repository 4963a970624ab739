// `multizone up` wiring: every zone runs the dns role; each zone's DNS answers steered records.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';
import { decode, query, udpExchange } from './helpers.ts';

let cluster: RunningCluster;
before(async () => {
  cluster = await startCluster({
    topology: testTopology({ roles: ['dns'], loopbackPerZone: true }),
    logger: silentLogger,
  });
});
after(() => cluster.close());

test('dns: startCluster runs a DNS server per zone that steers by client subnet', async () => {
  const dns = cluster.listeners.filter((l) => l.role === 'dns');
  assert.deepEqual(dns.map((l) => l.zone).sort(), ['bj-a', 'gz-a', 'sh-a', 'sh-b']);
  const bj = dns.find((l) => l.zone === 'bj-a')!;
  assert.equal(bj.host, '127.0.3.1');
  assert.ok(bj.port > 0);
  const ask = async (host: string, port: number, subnet: string) => {
    const r = await udpExchange(port, query('api.shop.test', 'A', { ecs: { ip: subnet, prefix: 24 } }), 3000, host);
    return decode(r!);
  };
  // the service's role is dns here, so addresses are the zones' dns listeners
  for (const l of dns) {
    const north = await ask(l.host, l.port, '1.2.4.0');
    assert.equal((north.answers[0] as { data: string }).data, '127.0.3.1', `asked ${l.zone}`);
    const south = await ask(l.host, l.port, '202.96.128.0');
    assert.equal((south.answers[0] as { data: string }).data, '127.0.4.1', `asked ${l.zone}`);
  }
  const text = await cluster.services.metrics.metrics();
  assert.match(text, /mz_dns_queries_total\{zone="bj-a",rcode="NOERROR",qtype="A",transport="udp"\} 2/);
});
