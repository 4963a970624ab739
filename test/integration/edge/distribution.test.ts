/** Push, preload, purge (URL, prefix, surrogate key; soft and hard) and parent tiers with failover. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { createEdge, type Edge } from '../../../src/edge/index.ts';
import { cacheStatus, edgeConfig, Scenario } from '../../edge/support/scripted.ts';

const TOKEN = 'tok';
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
let s: Scenario;
const extra: Edge[] = [];
afterEach(async () => {
  s.origin.verify();
  await s.close();
  for (const e of extra.splice(0)) await e.close();
});

async function scenario(config: Record<string, unknown> = {}): Promise<Scenario> {
  s = new Scenario();
  return s.start(config, { token: TOKEN });
}

test('edge: a pushed object is served as a hit without asking the origin', async () => {
  await scenario();
  const put = await s.req(
    'PUT',
    '/.mz/push?url=/pushed.css',
    { ...auth, 'content-type': 'text/css', 'cache-control': 'public, max-age=600', etag: '"p1"' },
    'body{}',
  );
  assert.equal(put.status, 201);
  const g = await s.get('/pushed.css');
  assert.equal(g.body, 'body{}');
  assert.equal(g.headers['content-type'], 'text/css');
  assert.equal(g.headers.etag, '"p1"');
  assert.equal(cacheStatus(g).hit, true);
  assert.equal(s.origin.received.length, 0);
});

test('edge: preload fetches listed URLs into the cache before users ask', async () => {
  await scenario();
  s.origin.script(
    { expect: (r) => assert.equal(r.url, '/a'), headers: { 'cache-control': 'max-age=60' }, body: 'A' },
    { expect: (r) => assert.equal(r.url, '/b'), status: 404, headers: { 'cache-control': 'no-store' } },
  );
  const r = await s.req('POST', '/.mz/preload', auth, JSON.stringify({ urls: ['/a', '/b'] }));
  assert.deepEqual(JSON.parse(r.body).results, [
    { url: '/a', status: 200, stored: true },
    { url: '/b', status: 404, stored: false },
  ]);
  assert.equal(cacheStatus(await s.get('/a')).hit, true);
});

test('edge: a hard purge by URL removes the object', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60' }, body: '1' },
    { headers: { 'cache-control': 'max-age=60' }, body: '2' },
  );
  await s.get('/x');
  const p = await s.req('POST', '/.mz/purge', auth, JSON.stringify({ urls: ['/x'] }));
  assert.deepEqual(JSON.parse(p.body), { purged: 1, soft: false });
  const g = await s.get('/x');
  assert.equal(g.body, '2');
  assert.equal(cacheStatus(g).fwd, 'uri-miss');
  assert.equal(await s.metric('mz_edge_purged_objects_total', { mode: 'hard' }), 1);
});

test('edge: a soft purge marks the object stale, so the next request revalidates', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', etag: '"1"' }, body: 'same' },
    { expect: (r) => assert.equal(r.headers['if-none-match'], '"1"'), status: 304, headers: { etag: '"1"' } },
  );
  await s.get('/x');
  await s.req('POST', '/.mz/purge', auth, JSON.stringify({ urls: ['/x'], soft: true }));
  const g = await s.get('/x');
  assert.equal(g.body, 'same');
  assert.equal(cacheStatus(g).fwd, 'stale');
});

test('edge: purge by prefix and by surrogate key; Surrogate-Key is not shown to clients', async () => {
  await scenario();
  const cc = (tag: string) => ({ 'cache-control': 'max-age=60', 'surrogate-key': tag });
  s.origin.script(
    { headers: cc('img'), body: 'i1' },
    { headers: cc('img'), body: 'i2' },
    { headers: cc('product-7 css'), body: 'c1' },
    { headers: cc('other'), body: 'o1' },
    { headers: cc('img'), body: 'i1b' },
    { headers: cc('css'), body: 'c1b' },
  );
  const first = await s.get('/img/1');
  assert.equal(first.headers['surrogate-key'], undefined);
  await s.get('/img/2');
  await s.get('/css/1');
  await s.get('/other');
  const host = new URL(s.url).host;
  const p1 = await s.req('POST', '/.mz/purge', auth, JSON.stringify({ prefixes: [`http://${host}/img/`] }));
  assert.equal(JSON.parse(p1.body).purged, 2);
  const p2 = await s.req('POST', '/.mz/purge', auth, JSON.stringify({ tags: ['product-7'] }));
  assert.equal(JSON.parse(p2.body).purged, 1);
  assert.equal((await s.get('/img/1')).body, 'i1b');
  assert.equal((await s.get('/css/1')).body, 'c1b');
  assert.equal(cacheStatus(await s.get('/other')).hit, true);
});

async function parent(origin: string): Promise<{ edge: Edge; url: string }> {
  const edge = createEdge({ zone: `parent-${extra.length}`, config: edgeConfig(), origin, clock: s.clock });
  extra.push(edge);
  const a = await edge.listen('127.0.0.1', 0);
  return { edge, url: `http://127.0.0.1:${a.port}` };
}

test('edge: misses go to the parent chosen by consistent hashing, failing over to the next parent, then the origin', async () => {
  s = new Scenario();
  await s.origin.start();
  const p1 = await parent(s.origin.url);
  const p2 = await parent(s.origin.url);
  const child = createEdge({
    zone: 'child',
    config: edgeConfig({ parents: [p1.url, p2.url] }),
    origin: s.origin.url,
    clock: s.clock,
  });
  extra.push(child);
  const ca = await child.listen('127.0.0.1', 0);
  const via = (r: { headers: Record<string, unknown> }) => String(r.headers.via ?? '');
  const cc = { 'cache-control': 'max-age=60' };
  let first = '';
  s.origin.script(
    {
      expect: (r) => {
        // child → parent → origin: both hops are in Via
        assert.match(via(r), /multizone-child, 1\.1 multizone-parent-\d/);
        first = via(r).includes('parent-0') ? 'p1' : 'p2';
      },
      headers: cc,
      body: 'through-parent',
    },
    { expect: (r) => assert.match(via(r), /multizone-child, 1\.1 multizone-parent-\d/), headers: cc, body: 'failover' },
    { expect: (r) => assert.equal(via(r), '1.1 multizone-child'), headers: cc, body: 'direct' },
  );
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${ca.port}${path}`);
    const out = { status: r.status, body: await r.text() };
    return out;
  };
  assert.equal((await get('/t1')).body, 'through-parent');
  // stop the parent that served /t1: the same key fails over to the other parent
  const owner = first === 'p1' ? p1 : p2;
  await owner.edge.close();
  child.store.purgeKey(`GET 127.0.0.1:${ca.port}/t1`, false);
  assert.equal((await get('/t1')).body, 'failover');
  // both parents gone: straight to the origin
  await (first === 'p1' ? p2 : p1).edge.close();
  child.store.purgeKey(`GET 127.0.0.1:${ca.port}/t1`, false);
  assert.equal((await get('/t1')).body, 'direct');
});

test('edge: objects in the disk tier survive an edge restart', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'mz-edge-disk-'));
  extra.push({ close: async () => rmSync(dir, { recursive: true, force: true }) } as unknown as Edge);
  const disk = { path: join(dir, 'ring'), sizeBytes: 4 << 20 };
  await scenario({ disk });
  s.origin.script({ headers: { 'cache-control': 'max-age=600' }, body: 'persisted' });
  await s.get('/keep');
  await s.edge.close();
  const again = createEdge({ zone: 'again', config: edgeConfig({ disk }), origin: s.origin.url, clock: s.clock });
  extra.push(again);
  const a = await again.listen('127.0.0.1', 0);
  // same Host as before, so the same key
  const { Pool } = await import('undici');
  const pool = new Pool(`http://127.0.0.1:${a.port}`);
  const r = await pool.request({ method: 'GET', path: '/keep', headers: { host: new URL(s.url).host } });
  assert.equal(await r.body.text(), 'persisted');
  assert.match(String(r.headers['cache-status']), /multizone; hit/);
  await pool.close();
  assert.equal(s.origin.received.length, 1);
});

test('edge: bodies above maxObjectBytes stream through whole and are not stored', async () => {
  await scenario({ cache: { maxObjectBytes: 100 } });
  const big = 'x'.repeat(5000);
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60' }, body: big },
    { headers: { 'cache-control': 'max-age=60' }, body: big },
  );
  const a = await s.get('/big');
  assert.equal(a.body, big);
  assert.equal(cacheStatus(a).detail, 'too-large');
  assert.equal((await s.get('/big')).body, big);
});
