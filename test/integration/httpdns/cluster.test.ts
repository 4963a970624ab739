import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';

let cluster: RunningCluster;
before(async () => {
  cluster = await startCluster({ topology: testTopology({ roles: ['edge', 'httpdns'] }), logger: silentLogger });
});
after(() => cluster.close());

test('httpdns/cluster: multizone up runs HTTPDNS on every zone, listed in /api/endpoints', async () => {
  const hd = cluster.listeners.filter((l) => l.role === 'httpdns');
  assert.deepEqual(hd.map((l) => l.zone).sort(), ['bj-a', 'gz-a', 'sh-a', 'sh-b']);
  const eps = (await (await request(`http://127.0.0.1:${cluster.control.port}/api/endpoints`)).body.json()) as {
    endpoints: { role: string }[];
  };
  assert.equal(eps.endpoints.filter((e) => e.role === 'httpdns').length, 4);
  for (const l of hd) {
    const r = await request(`http://127.0.0.1:${l.port}/d?host=api.shop.test&ip=1.2.4.8`);
    assert.equal(r.statusCode, 200);
    const j = (await r.body.json()) as { dns: { ips: string[] }[] };
    assert.deepEqual(j.dns[0]!.ips, ['127.0.0.1']);
  }
  // the speed-report ranking is wired into steering
  assert.equal(typeof cluster.services.state.latencyRank, 'function');
  const m = await (await request(`http://127.0.0.1:${cluster.control.port}/metrics`)).body.text();
  assert.match(m, /mz_httpdns_requests_total\{zone="(sh-a|sh-b|bj-a|gz-a)",route="d",status="200"\}/);
});
