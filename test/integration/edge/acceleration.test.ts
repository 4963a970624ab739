/** Compression, cookie-free static hosts, zone redirect, TLS + HTTP/2, dynamic upstream and origin path choice. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Pool } from 'undici';
import { createEdge, type Edge, makeDevCert } from '../../../src/edge/index.ts';
import { cacheStatus, edgeConfig, Scenario, ScriptedOrigin } from '../../edge/support/scripted.ts';

let s: Scenario;
const extra: { close(): Promise<void> }[] = [];
afterEach(async () => {
  s.origin.verify();
  await s.close();
  for (const e of extra.splice(0)) await e.close();
});

async function scenario(config: Record<string, unknown> = {}, dynamic?: string): Promise<Scenario> {
  s = new Scenario();
  return s.start(config, { dynamic });
}

const text = 'the quick brown fox jumps over the lazy dog. '.repeat(100);

test('edge: text bodies are compressed on the fly (br preferred, then gzip) with Vary and a weak ETag', async () => {
  await scenario();
  s.origin.script({
    headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"t"' },
    body: text,
  });
  const br = await s.get('/t.txt', { 'accept-encoding': 'gzip, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(br.headers.etag, 'W/"t"');
  assert.equal(brotliDecompressSync(br.raw).toString(), text);
  assert.ok(br.raw.length < text.length / 4);
  const gz = await s.get('/t.txt', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gz.raw).toString(), text);
  const id = await s.get('/t.txt');
  assert.equal(id.headers['content-encoding'], undefined);
  assert.equal(id.body, text);
  assert.equal(cacheStatus(id).hit, true);
});

test('edge: small bodies, compressed types and already-encoded bodies are not compressed', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, body: 'tiny' },
    { headers: { 'cache-control': 'max-age=60', 'content-type': 'image/png' }, body: text },
    {
      headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain', 'content-encoding': 'gzip' },
      body: text,
    },
  );
  for (const p of ['/small.txt', '/img.png', '/pre.txt']) {
    const r = await s.get(p, { 'accept-encoding': 'br, gzip' });
    assert.equal(r.headers['content-encoding'], p === '/pre.txt' ? 'gzip' : undefined, p);
    assert.equal(r.body, p === '/small.txt' ? 'tiny' : text, p);
  }
});

test('edge: on static hosts Cookie is not forwarded and Set-Cookie is dropped, so the object is shared', async () => {
  await scenario({ staticHosts: ['static.shop.test'] });
  s.origin.script({
    expect: (r) => assert.equal(r.headers.cookie, undefined),
    headers: { 'cache-control': 'max-age=60', 'set-cookie': 'track=1' },
    body: 'logo',
  });
  const a = await s.get('/logo.svg', { host: 'static.shop.test', cookie: 'session=secret' });
  assert.equal(a.headers['set-cookie'], undefined);
  const b = await s.get('/logo.svg', { host: 'static.shop.test' });
  assert.equal(cacheStatus(b).hit, true);
});

test('edge: the mz_zone cookie naming another zone gets a 302 to that zone’s edge', async () => {
  s = new Scenario();
  await s.origin.start();
  const edge = createEdge({
    zone: 'sh-a',
    config: edgeConfig({ zoneRedirect: true }),
    origin: s.origin.url,
    clock: s.clock,
    zoneEdges: () => new Map([['bj-a', 'http://127.0.3.1:18080']]),
  });
  extra.push(edge);
  const a = await edge.listen('127.0.0.1', 0);
  const pool = new Pool(`http://127.0.0.1:${a.port}`);
  extra.push(pool);
  const r = await pool.request({ method: 'GET', path: '/page?x=1', headers: { cookie: 'a=b; mz_zone=bj-a' } });
  await r.body.dump();
  assert.equal(r.statusCode, 302);
  assert.equal(r.headers.location, 'http://127.0.3.1:18080/page?x=1');
  assert.equal(r.headers['cache-control'], 'private, no-store');
  s.origin.script({ headers: { 'cache-control': 'max-age=5' }, body: 'mine' });
  const own = await pool.request({ method: 'GET', path: '/page', headers: { cookie: 'mz_zone=sh-a' } });
  assert.equal(await own.body.text(), 'mine');
});

test('edge: dynamic paths go to the zone’s router/app upstream, never cached unless it says so', async () => {
  const app = new ScriptedOrigin(new Scenario().clock);
  await app.start();
  extra.push(app);
  await scenario({}, app.url);
  app.script(
    {
      expect: (r) => assert.equal(r.url, '/api/orders?u=1'),
      headers: { 'content-type': 'application/json' },
      body: '{"n":1}',
    },
    { expect: (r) => assert.equal(r.body, '{"new":true}'), status: 201, body: '{"id":2}' },
  );
  assert.equal((await s.get('/api/orders?u=1')).body, '{"n":1}');
  const post = await s.req('POST', '/api/orders', { 'content-type': 'application/json' }, '{"new":true}');
  assert.equal(post.status, 201);
  app.verify();
});

test('edge: TLS termination with HTTP/2 via ALPN (and HTTP/1.1 on the same port)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-edge-tls-'));
  extra.push({ close: async () => rmSync(dir, { recursive: true, force: true }) });
  const pems = await makeDevCert(['localhost']);
  writeFileSync(join(dir, 'cert.pem'), pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.key);
  await scenario({ tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } });
  s.origin.script({ headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, body: 'over h2' });
  const port = new URL(s.url).port;
  const client = connect(`https://127.0.0.1:${port}`, { ca: pems.cert, servername: 'localhost' });
  extra.push({ close: async () => client.close() });
  const h2get = () =>
    new Promise<{ status: number; body: string; cs: string; alpn: string }>((resolve, reject) => {
      const req = client.request({ ':path': '/h2.txt', ':authority': 'localhost' });
      let status = 0;
      let cs = '';
      let body = '';
      req.on('response', (h) => {
        status = Number(h[':status']);
        cs = String(h['cache-status']);
      });
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => resolve({ status, body, cs, alpn: client.alpnProtocol ?? '' }));
      req.on('error', reject);
      req.end();
    });
  const a = await h2get();
  assert.deepEqual([a.status, a.body, a.alpn], [200, 'over h2', 'h2']);
  const b = await h2get();
  assert.match(b.cs, /multizone; hit/);
});

test('edge: among several origin paths the faster one is preferred; a failing path is left', async () => {
  s = new Scenario();
  await s.origin.start();
  const slow = new ScriptedOrigin(s.clock);
  await slow.start();
  extra.push(slow);
  const edge: Edge = createEdge({
    zone: 'r',
    config: edgeConfig({ originPaths: [slow.url] }),
    origin: s.origin.url,
    clock: s.clock,
  });
  extra.push(edge);
  // measurements as the pools would have recorded them: the relay is faster
  const [direct, relay] = edge.upstreams.origins;
  direct!.latencyMs = 50;
  relay!.latencyMs = 5;
  assert.deepEqual(
    edge.upstreams.candidates('static', 'k').map((t) => t.name),
    ['path-1', 'origin'],
  );
  // the relay starts failing: its error rate pushes it behind the direct path
  relay!.errorRate = 0.6;
  assert.deepEqual(
    edge.upstreams.candidates('static', 'k2').map((t) => t.name),
    ['origin', 'path-1'],
  );
  // a real failure on the preferred path fails over to the next in the same request
  direct!.errorRate = 0;
  relay!.errorRate = 0;
  slow.script({ reset: true });
  s.origin.script({ headers: { 'cache-control': 'max-age=5' }, body: 'via direct' });
  const a = await edge.listen('127.0.0.1', 0);
  const r = await fetch(`http://127.0.0.1:${a.port}/obj`);
  assert.equal(await r.text(), 'via direct');
  assert.ok(relay!.errorRate > 0);
  slow.verify();
});
