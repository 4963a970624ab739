// `multizone up` wiring: every zone runs an edge in front of its own demo origin, listed as listeners,
// with edge metrics on the cluster registry; plus curl as a real client (miss, hit, revalidation, purge).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { edgeErrors } from '../../../src/edge/index.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';

let cluster: RunningCluster;
before(async () => {
  cluster = await startCluster({
    topology: testTopology({ roles: ['app', 'edge'], extra: 'edge:\n  adminToken: test-token\n' }),
    logger: silentLogger,
  });
});
after(() => cluster.close());

const run = promisify(execFile);

/** curl as a real client (async: the servers run in this process). */
async function curl(...args: string[]): Promise<string> {
  return (await run('curl', ['-s', '-i', '--max-time', '5', ...args], { encoding: 'utf8' })).stdout;
}

test('edge: startCluster runs an edge and a demo origin per zone, listed in the listeners', async () => {
  const edges = cluster.listeners.filter((l) => l.role === 'edge');
  const origins = cluster.listeners.filter((l) => l.role === 'origin');
  assert.deepEqual(edges.map((l) => l.zone).sort(), ['bj-a', 'gz-a', 'sh-a', 'sh-b']);
  assert.equal(origins.length, 4);
  const e = edges[0]!;
  const url = `http://${e.host}:${e.port}`;
  const a = await fetch(`${url}/index.html`);
  assert.equal(a.status, 200);
  assert.match(a.headers.get('cache-status') ?? '', /fwd=uri-miss/);
  await a.text();
  const b = await fetch(`${url}/index.html`);
  assert.match(b.headers.get('cache-status') ?? '', /multizone; hit/);
  await b.text();
  // dynamic calls reach the zone's app through the edge
  const api = await fetch(`${url}/api/ping`);
  assert.equal((await api.json()).zone, e.zone);
  const text = await cluster.services.metrics.metrics();
  assert.match(text, new RegExp(`mz_edge_hits_total\\{zone="${e.zone}"\\} 1`));
  // the dynamic GET went upstream too (uncacheable), so it counts as a miss
  assert.match(text, new RegExp(`mz_edge_misses_total\\{zone="${e.zone}"\\} 2`));
  assert.match(text, new RegExp(`mz_edge_origin_duration_seconds_count\\{zone="${e.zone}",target="origin"\\} 1`));
  assert.match(text, new RegExp(`mz_edge_origin_duration_seconds_count\\{zone="${e.zone}",target="dynamic"\\} 1`));
});

test('edge: curl transcript of a miss, a hit, a revalidation and a purge', async () => {
  const e = cluster.listeners.find((l) => l.role === 'edge' && l.zone === 'sh-b')!;
  const url = `http://${e.host}:${e.port}`;
  const miss = await curl(`${url}/style.css`);
  assert.match(miss, /^HTTP\/1\.1 200/);
  assert.match(miss, /cache-status: multizone; fwd=uri-miss; fwd-status=200; stored; ttl=\d+/i);
  const hit = await curl(`${url}/style.css`);
  assert.match(hit, /cache-status: multizone; hit; ttl=\d+/i);
  assert.match(hit, /^age: \d+/im);
  // news.json is no-cache: every reuse is a conditional request answered 304 by the origin
  await curl(`${url}/news.json`);
  const reval = await curl(`${url}/news.json`);
  assert.match(reval, /cache-status: multizone; fwd=stale; fwd-status=304; stored/i);
  const purge = await curl(
    '-X',
    'POST',
    '-H',
    'authorization: Bearer test-token',
    '--data',
    '{"tags":["assets"]}',
    `${url}/.mz/purge`,
  );
  assert.match(purge, /"purged":1/);
  const after = await curl(`${url}/style.css`);
  assert.match(after, /fwd=uri-miss/);
  if (process.env.MZ_SHOW_TRANSCRIPT)
    console.log([miss, hit, reval, purge, after].map((t) => t.replace(/\r/g, '').split('\n\n')[0]).join('\n\n'));
});

test("edge: startCluster gives each edge the topology's sites: other Hosts get 421", async () => {
  const e = cluster.listeners.find((l) => l.role === 'edge' && l.zone === 'bj-a')!;
  const url = `http://${e.host}:${e.port}`;
  const get = async (host: string) => {
    const r = await request(`${url}/style.css`, { headers: { host } });
    return { status: r.statusCode, body: await r.body.text() };
  };
  // the test topology's apex (shop.test) and its edge service (api.shop.test), any port
  assert.equal((await get('api.shop.test')).status, 200);
  assert.equal((await get(`shop.test:${e.port}`)).status, 200);
  const bad = await get('evil.test');
  assert.equal(bad.status, 421);
  assert.equal(JSON.parse(bad.body).error, edgeErrors.ERR_EDGE_UNKNOWN_HOST.code);
});
