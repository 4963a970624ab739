// A cluster whose HTTPDNS listeners are HTTPS: the probes speak TLS to them, so every HTTPDNS
// endpoint stays up and httpdns.shop.test is answered with its own TTL, not fail-open's 30 s.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { makeDevCert } from '../../../src/edge/index.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { freePort, testTopologyYaml } from '../../support/net.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-health-tls-'));
// the test client trusts the listener as the probes do: a development certificate
const insecure = new Agent({ connect: { rejectUnauthorized: false } });
let cluster: RunningCluster;

before(async () => {
  const c = await makeDevCert(['localhost', 'httpdns.shop.test']);
  writeFileSync(join(dir, 'cert.pem'), c.cert);
  writeFileSync(join(dir, 'key.pem'), c.key);
  // fixed ports: a port-0 listener is not probed at all (it would count as up regardless)
  let yaml = testTopologyYaml({
    roles: ['httpdns'],
    loopbackPerZone: true,
    extra: `httpdns:
  tls: { cert: ${join(dir, 'cert.pem')}, key: ${join(dir, 'key.pem')} }
  rateLimit: { perSecond: 0 }
health: { intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 3 }
`,
  });
  for (const n of [1, 2, 3, 4])
    yaml = yaml.replace(`httpdns: 127.0.${n}.1:0`, `httpdns: 127.0.${n}.1:${await freePort()}`);
  yaml = yaml.replace('services:\n', 'services:\n  httpdns.shop.test: { role: httpdns, ttl: 600, policy: nearest }\n');
  cluster = await startCluster({ topology: parseTopology(yaml, 'tls-probes.yaml'), logger: silentLogger });
});
after(async () => {
  await cluster?.close();
  await insecure.close();
  rmSync(dir, { recursive: true, force: true });
});

test('health: HTTPDNS on HTTPS is probed over TLS: every endpoint up, httpdns.shop.test answered with TTL 600', async () => {
  const health = cluster.services.health!;
  const httpdns = () => health.verdicts().filter((v) => v.role === 'httpdns');
  assert.equal(httpdns().length, 4);
  // wait (bounded) until every prober has probed every HTTPDNS endpoint at least `fall` times:
  // plain HTTP to a TLS listener fails at once (a reset), so the old probe had them all down by
  // then; generous timeouts keep a slow handshake on a loaded machine from counting as down
  for (let i = 0; i < 400 && !httpdns().every((v) => Object.values(v.votes).every((x) => x.probes >= 3)); i++)
    await new Promise((r) => setTimeout(r, 50));
  for (const v of httpdns()) {
    for (const [prober, vote] of Object.entries(v.votes)) {
      assert.ok(vote.probes >= 3, `${v.endpointId} from ${prober}: probed`);
      assert.notEqual(vote.lastError?.code, 'ERR_HEALTH_PROBE_CONNECT', `${v.endpointId} from ${prober}`);
      assert.equal(vote.state, 'up', `${v.endpointId} from ${prober}: ${JSON.stringify(vote.lastError)}`);
    }
    assert.equal(v.up, true, v.endpointId);
  }
  const hd = cluster.listeners.filter((l) => l.role === 'httpdns');
  assert.deepEqual(
    hd.map((l) => l.protocol),
    ['https', 'https', 'https', 'https'],
  );
  for (const l of hd) {
    const r = await request(`https://${l.host}:${l.port}/d?host=httpdns.shop.test&ip=1.2.4.8`, {
      dispatcher: insecure,
    });
    assert.equal(r.statusCode, 200);
    const j = (await r.body.json()) as { dns: { ips: string[]; ttl: number; origin_ttl: number }[] };
    assert.equal(j.dns[0]!.ttl, 600, 'not the fail-open TTL');
    assert.equal(j.dns[0]!.origin_ttl, 600);
    assert.equal(j.dns[0]!.ips[0], '127.0.3.1', 'Beijing is steered to bj-a');
  }
});
