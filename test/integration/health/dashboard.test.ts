import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { DASHBOARD_SCRIPT } from '../../../src/control/index.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import type { HealthReport } from '../../../src/health/index.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const clusters: RunningCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

/** Stops a test's cluster as soon as the test is done, so clusters don't pile up and load the machine. */
async function done(c: RunningCluster): Promise<void> {
  clusters.splice(clusters.indexOf(c), 1);
  await c.close();
}

/** A free port on host: bind port 0, read it back, close (health needs the real port in the topology). */
async function freePort(host: string): Promise<number> {
  const s = createServer();
  const a = await listenOn(s, host, 0, 'port probe');
  await closeServer(s);
  return a.port;
}

async function up(health: string): Promise<{ c: RunningCluster; base: string }> {
  let yaml = testTopologyYaml({ roles: ['app'], loopbackPerZone: true, extra: `health: ${health}` });
  for (const [i] of ZONES.entries()) {
    const host = `127.0.${i + 1}.1`;
    yaml = yaml.replace(`app: ${host}:0`, `app: ${host}:${await freePort(host)}`);
  }
  const topology = parseTopology(yaml, 'dashboard-test.yaml');
  const c = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
  clusters.push(c);
  return { c, base: `http://127.0.0.1:${c.control.port}` };
}

async function get(base: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const r = await request(`${base}${path}`);
  return { status: r.statusCode, type: String(r.headers['content-type'] ?? ''), body: await r.body.text() };
}

async function json(base: string, path: string): Promise<unknown> {
  const r = await get(base, path);
  return r.status === 404 ? null : JSON.parse(r.body);
}

/** Polls /api/health until every prober has voted every endpoint up (bounded). */
async function allUp(c: RunningCluster, base: string): Promise<HealthReport> {
  let report: HealthReport | undefined;
  for (let i = 0; i < 300; i++) {
    report = (await json(base, '/api/health')) as HealthReport;
    if (report.endpoints.every((e) => e.up && Object.values(e.votes).every((v) => v.state === 'up'))) break;
    await c.services.clock.sleep(20);
  }
  return report!;
}

describe('health in a running cluster, and the dashboard', () => {
  it('health: GET /api/health shows every endpoint verdict and each prober zone vote', async () => {
    const { c, base } = await up('{ intervalMs: 200, timeoutMs: 180, rise: 1, fall: 3 }');
    const report = await allUp(c, base);
    assert.equal(report.enabled, true);
    assert.equal(report.quorum, 3);
    assert.deepEqual(report.probers, ZONES);
    assert.deepEqual(
      report.endpoints.map((e) => [e.endpointId, e.up]),
      ZONES.map((z) => [`${z}/app`, true]),
    );
    for (const e of report.endpoints)
      for (const z of ZONES) {
        const v = e.votes[z]!;
        assert.equal(v.state, 'up');
        // a single probe may have failed on a loaded machine without changing the vote (fall 3)
        assert.ok(v.probes > 0 && v.lastResult !== null);
        assert.equal(typeof v.lastRttMs, 'number');
      }
    assert.deepEqual(
      report.zones.map((z) => [z.zone, z.up, z.keyEndpoint]),
      ZONES.map((z) => [z, true, `${z}/app`]),
    );
    const checker = c.services.health!;
    assert.equal(checker.zoneUp('bj-a'), true);
    const metrics = await get(base, '/metrics');
    assert.match(metrics.body, /mz_health_endpoint_up\{endpoint="bj-a\/app",zone="bj-a",role="app"\} 1/);
    assert.match(metrics.body, /mz_health_probes_total\{result="ok"\} [1-9]/);
    await done(c);
  });

  it('health: a zone isolated by a failover drill is voted down by the others and comes back when healed', async (t) => {
    const { c, base } = await up('{ intervalMs: 200, timeoutMs: 180, rise: 1, fall: 3 }');
    const faults = c.services.shardmap.faults;
    if (!faults) {
      t.skip('no failover part in this build');
      return;
    }
    await allUp(c, base);
    const checker = c.services.health!;
    const waitFor = async (cond: () => boolean) => {
      for (let i = 0; i < 300 && !cond(); i++) await c.services.clock.sleep(20);
      return cond();
    };
    faults.setIsolated('gz-a', true);
    assert.ok(await waitFor(() => !checker.zoneUp('gz-a')), 'gz-a never voted down');
    assert.equal(c.services.state.isUp('gz-a/app'), false);
    const v = checker.verdict('gz-a/app')!;
    assert.equal(v.votes['gz-a']!.state, 'up'); // a zone still reaches itself
    assert.equal(v.votes['sh-a']!.lastError?.code, 'ERR_HEALTH_PROBE_TIMEOUT');
    assert.equal(checker.zoneUp('sh-a'), true);
    // replication hears the verdict: links into gz-a are down, the others are not
    const links = async () =>
      JSON.parse((await get(base, '/api/replication')).body).links as { origin: string; dest: string; down: boolean }[];
    const during = await links();
    assert.ok(during.length > 0);
    for (const l of during) assert.equal(l.down, l.dest === 'gz-a', `${l.origin}→${l.dest}`);
    faults.setIsolated('gz-a', false);
    assert.ok(await waitFor(() => checker.zoneUp('gz-a')), 'gz-a never came back');
    for (const l of await links()) assert.equal(l.down, false, `${l.origin}→${l.dest} after healing`);
    assert.equal(c.services.state.isUp('gz-a/app'), true);
    await done(c);
  });

  it('control: GET / serves a self-contained page that renders zones, verdicts and votes from the APIs', async () => {
    const { c, base } = await up('{ intervalMs: 200, timeoutMs: 180, rise: 1, fall: 3 }');
    await allUp(c, base);
    const page = await get(base, '/classic');
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /<script>/);
    // no external assets: nothing loaded from elsewhere
    assert.doesNotMatch(page.body, /<(script|link|img)[^>]+(src|href)=/i);
    assert.doesNotMatch(page.body, /https?:\/\//);
    for (const api of ['topology', 'cluster', 'endpoints', 'health', 'shardmap', 'replication'])
      assert.ok(page.body.includes(`'/api/${api}`), `page polls /api/${api}`);

    // what the page does every 2 s: fetch the APIs (404 = not there), then render
    const data: Record<string, unknown> = {};
    for (const api of ['topology', 'cluster', 'endpoints', 'health', 'shardmap', 'replication'])
      data[api] = await json(base, api === 'shardmap' ? '/api/shardmap?shards=0' : `/api/${api}`);
    const script = /<script>([\s\S]*)<\/script>/.exec(page.body)![1]!;
    const render = runInNewContext(`${script}; render`, {}) as (d: unknown) => string;
    const html = render(data);
    for (const z of ZONES) {
      assert.ok(html.includes(`<b>${z}</b>`), `zone ${z} shown`);
      assert.ok(html.includes(`vote of ${z}`), `prober ${z} shown`);
      assert.ok(html.includes(`<b>${z}/app</b>`), `endpoint ${z}/app shown`);
    }
    // each endpoint row shows the verdict the API gave (verdicts themselves may move under load)
    for (const e of (data.health as HealthReport).endpoints)
      assert.match(html, new RegExp(`<b>${e.endpointId}</b>.*?</td><td><span class="b ${e.up ? 'up' : 'down'}">`));
    assert.match(html, /core zone sh-a/);
    // this process, with every zone, in the processes table; each listener tagged with it
    const id = c.registry.id;
    assert.match(html, new RegExp(`<h2>Processes</h2>.*<b>${id}</b> <span class="b core">here</span>`));
    assert.match(html, /sh-a, sh-b, bj-a, gz-a<\/td><td><a href="http:\/\/127\.0\.0\.1:\d+\/">/);
    assert.match(html, /<span class="b up">alive<\/span>/);
    assert.match(
      html,
      new RegExp(`<td>sh-a</td><td>app</td><td>http</td><td>[0-9.:]+</td><td><span class="muted">${id}</span>`),
    );
    if (data.shardmap) assert.match(html, /<h2>Shard map<\/h2>/);

    // and the browser path: boot() polls through fetch and fills the page
    const main = { innerHTML: '' };
    const status = { textContent: '' };
    const polls: number[] = [];
    runInNewContext(script, {
      document: { getElementById: (id: string) => (id === 'main' ? main : status) },
      fetch: (path: string, init: RequestInit) => fetch(`${base}${path}`, init),
      setInterval: (_fn: unknown, ms: number) => polls.push(ms),
    });
    for (let i = 0; i < 300 && !main.innerHTML; i++) await c.services.clock.sleep(10);
    for (const z of ZONES) assert.ok(main.innerHTML.includes(`<b>${z}/app</b>`), `browser page shows ${z}/app`);
    assert.match(status.textContent, /^updated /);
    assert.doesNotMatch(status.textContent, /errors/);
    assert.deepEqual(polls, [2000]);
    if (data.replication) assert.match(html, /<h2>Replication<\/h2>/);
    await done(c);
  });

  it('control: the dashboard renders down verdicts and failed votes, escaping what it shows', () => {
    const render = runInNewContext(`${DASHBOARD_SCRIPT}; render`, {}) as (d: unknown) => string;
    const vote = (state: string, lastError: unknown) => ({
      state,
      lastResult: state === 'up' ? 'ok' : 'fail',
      successes: state === 'up' ? 2 : 0,
      failures: state === 'up' ? 0 : 3,
      lastError,
      lastRttMs: 1.5,
      lastProbeAt: 1,
      probes: 5,
    });
    const html = render({
      topology: {
        name: 't',
        apex: 'shop.test',
        coreZone: 'a',
        zones: [
          { name: 'a', region: 'r', core: true, backups: [], capacity: 1, listen: { app: { host: 'h', port: 1 } } },
        ],
      },
      endpoints: null,
      cluster: {
        processes: [
          {
            id: 'b_dead',
            zones: ['b'],
            control: 'javascript:alert(1)',
            pid: 9,
            hostname: '<b>h</b>',
            at: 1_700_000_000_000,
            alive: false,
            here: false,
            listeners: [{}, {}],
            links: [{ from: 'b', to: 'a', records: 4, seconds: 2, state: 'down' }],
          },
        ],
      },
      health: {
        enabled: true,
        intervalMs: 1,
        timeoutMs: 1,
        rise: 1,
        fall: 1,
        quorum: 1,
        probers: ['a'],
        zones: [{ zone: 'a', up: false, keyEndpoint: 'a/app' }],
        endpoints: [
          {
            endpointId: 'a/app',
            zone: 'a',
            role: 'app',
            host: 'h',
            port: 1,
            kind: 'http',
            up: false,
            since: 0,
            changes: 1,
            votes: { a: vote('down', { code: 'ERR_HEALTH_PROBE_STATUS', message: '<img src=x> 503' }) },
          },
        ],
      },
      shardmap: { revision: 7, zones: { a: { shards: 3, lease: { valid: true } } }, isolated: [] },
      replication: { links: [{ origin: 'a', dest: 'b', records: 12, seconds: 0.25 }] },
    });
    assert.match(html, /class="b down"/);
    assert.match(html, /3&#10007; status/);
    assert.ok(html.includes('&lt;img src=x&gt; 503'));
    assert.ok(!html.includes('<img'));
    assert.match(html, /revision <b>7<\/b>/);
    assert.match(html, /<th>name<\/th><th>shards<\/th><th>lease\.valid<\/th>/);
    assert.match(html, /<td><b>a<\/b><\/td><td>3<\/td><td>yes<\/td>/);
    assert.match(html, /<td>a<\/td><td>b<\/td><td>12<\/td><td>0\.25<\/td>/);
    // a dead process stays listed; what its record says is escaped, and only a web URL is a link
    assert.match(html, /<b>b_dead<\/b><br><span class="muted">pid 9 on &lt;b&gt;h&lt;\/b&gt;<\/span>/);
    assert.match(html, /<td>javascript:alert\(1\)<\/td><td><span class="b down">dead<\/span>/);
    assert.ok(!html.includes('href="javascript'));
    assert.match(html, /<td>2<\/td><td><span class="b down">b→a<\/span> <span class="muted">4 behind, 2 s<\/span>/);
  });

  it('health: with health disabled nothing is published, /api/health says so, and / still serves', async () => {
    const { c, base } = await up('{ enabled: false }');
    assert.equal(c.services.health, null);
    const report = (await json(base, '/api/health')) as HealthReport;
    assert.equal(report.enabled, false);
    assert.deepEqual(report.endpoints, []);
    assert.equal((await get(base, '/classic')).status, 200);
    await done(c);
  });
});
