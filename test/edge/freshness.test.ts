/** RFC 9111 freshness and storage, one scripted scenario per behaviour. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { cacheStatus, Scenario } from './support/scripted.ts';

let s: Scenario;
afterEach(async () => {
  s.origin.verify();
  await s.close();
});

async function scenario(config: Record<string, unknown> = {}): Promise<Scenario> {
  s = new Scenario();
  return s.start(config);
}

test('edge: a miss is fetched and stored, the next request is a hit with Age and Cache-Status', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60' }, body: 'one' });
  const a = await s.get('/x');
  assert.equal(a.body, 'one');
  assert.deepEqual(cacheStatus(a), { fwd: 'uri-miss', 'fwd-status': '200', stored: true, ttl: '60' });
  s.advance(7);
  const b = await s.get('/x');
  assert.equal(b.body, 'one');
  assert.equal(b.headers.age, '7');
  assert.deepEqual(cacheStatus(b), { hit: true, ttl: '53' });
  assert.equal(await s.metric('mz_edge_hits_total'), 1);
  assert.equal(await s.metric('mz_edge_misses_total'), 1);
});

test('edge: Age adds the upstream Age header to the resident time (RFC 9111 §4.2.3)', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60', age: '10' }, body: 'x' });
  await s.get('/a');
  s.advance(5);
  const b = await s.get('/a');
  assert.equal(b.headers.age, '15');
  assert.equal(cacheStatus(b).ttl, '45');
});

test('edge: s-maxage overrides max-age for the shared cache', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=1, s-maxage=100' }, body: 'x' });
  await s.get('/a');
  s.advance(50);
  assert.equal(cacheStatus(await s.get('/a')).hit, true);
});

test('edge: Expires minus Date gives the lifetime when there is no max-age', async () => {
  await scenario();
  s.origin.script(
    { headers: { expires: s.date(30) }, body: 'v1' },
    { headers: { 'cache-control': 'max-age=30' }, body: 'v2' },
  );
  await s.get('/e');
  s.advance(20);
  assert.equal((await s.get('/e')).body, 'v1');
  s.advance(20);
  assert.equal((await s.get('/e')).body, 'v2');
});

test('edge: an invalid Expires ("0") means already stale', async () => {
  await scenario();
  s.origin.script(
    { headers: { expires: '0', etag: '"a"' }, body: 'v1' },
    { expect: (r) => assert.equal(r.headers['if-none-match'], '"a"'), status: 304, headers: { etag: '"a"' } },
  );
  await s.get('/e');
  const b = await s.get('/e');
  assert.equal(b.body, 'v1');
  assert.equal(cacheStatus(b).fwd, 'stale');
});

test('edge: heuristic freshness is 10 % of the time since Last-Modified', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'last-modified': s.date(-100) }, body: 'v1' },
    { status: 200, headers: { 'cache-control': 'max-age=5' }, body: 'v2' },
  );
  await s.get('/h');
  s.advance(9);
  assert.equal((await s.get('/h')).body, 'v1');
  s.advance(2);
  assert.equal((await s.get('/h')).body, 'v2');
});

test('edge: heuristic freshness is capped by heuristicMaxSeconds', async () => {
  await scenario({ cache: { heuristicMaxSeconds: 5 } });
  s.origin.script(
    { headers: { 'last-modified': s.date(-100_000) }, body: 'v1' },
    { headers: { 'cache-control': 'max-age=5' }, body: 'v2' },
  );
  await s.get('/h');
  s.advance(4);
  assert.equal((await s.get('/h')).body, 'v1');
  s.advance(2);
  assert.equal((await s.get('/h')).body, 'v2');
});

test('edge: no-store responses are never stored', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'no-store, max-age=60' }, body: 'a' },
    { headers: { 'cache-control': 'no-store, max-age=60' }, body: 'b' },
  );
  const a = await s.get('/n');
  assert.equal(cacheStatus(a).stored, undefined);
  assert.equal(cacheStatus(a).detail, 'no-store');
  assert.equal((await s.get('/n')).body, 'b');
});

test('edge: private responses are not stored by the shared cache', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'private, max-age=60' }, body: 'a' }, { headers: {}, body: 'b' });
  await s.get('/p');
  const b = await s.get('/p');
  assert.equal(b.body, 'b');
});

test('edge: private="x-user" stores the response without that field', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60, private="x-user"', 'x-user': 'alice' }, body: 'a' });
  const a = await s.get('/p');
  assert.equal(a.headers['x-user'], undefined);
  const b = await s.get('/p');
  assert.equal(cacheStatus(b).hit, true);
  assert.equal(b.headers['x-user'], undefined);
});

test('edge: a no-cache response is stored but revalidated before every reuse', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'no-cache', etag: '"v1"' }, body: 'body' },
    { expect: (r) => assert.equal(r.headers['if-none-match'], '"v1"'), status: 304, headers: { etag: '"v1"' } },
  );
  await s.get('/nc');
  const b = await s.get('/nc');
  assert.equal(b.status, 200);
  assert.equal(b.body, 'body');
  assert.deepEqual(cacheStatus(b).fwd, 'stale');
  assert.equal(cacheStatus(b)['fwd-status'], '304');
});

test('edge: must-revalidate forbids serving stale when the origin answers 503 (its error, not stale-if-error)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=600', etag: '"a"' }, body: 'a' },
    { status: 503, body: 'down' },
  );
  await s.get('/m');
  s.advance(5);
  const b = await s.get('/m');
  assert.equal(b.status, 503);
  assert.equal(b.body, 'down');
});

test('edge: must-revalidate with an unreachable origin answers 504 (§5.2.2.2)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, must-revalidate, stale-if-error=600' }, body: 'a' },
    { reset: true },
  );
  await s.get('/m');
  s.advance(5);
  assert.equal((await s.get('/m')).status, 504);
});

test('edge: proxy-revalidate also forbids stale reuse', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, proxy-revalidate, stale-while-revalidate=100' }, body: 'a' },
    { headers: { 'cache-control': 'max-age=60' }, body: 'b' },
  );
  await s.get('/m');
  s.advance(5);
  assert.equal((await s.get('/m')).body, 'b');
});

test('edge: responses to requests with Authorization are not stored (§3.5)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60' }, body: 'secret-a' },
    { headers: { 'cache-control': 'max-age=60' }, body: 'b' },
  );
  await s.get('/auth', { authorization: 'Bearer a' });
  assert.equal((await s.get('/auth')).body, 'b');
});

test('edge: Authorization responses marked public (or s-maxage) are stored', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'public, max-age=60' }, body: 'pub' });
  await s.get('/auth', { authorization: 'Bearer a' });
  const b = await s.get('/auth');
  assert.equal(b.body, 'pub');
  assert.equal(cacheStatus(b).hit, true);
});

test('edge: heuristically cacheable status codes (§4.2.2) are stored; others need explicit freshness', async () => {
  await scenario();
  const lm = s.date(-1000);
  s.origin.script(
    { status: 410, headers: { 'last-modified': lm }, body: 'gone' },
    { status: 201, headers: { 'last-modified': lm }, body: 'created-1' },
    { status: 201, headers: { 'last-modified': lm }, body: 'created-2' },
    { status: 418, headers: { 'cache-control': 'max-age=60' }, body: 'teapot' },
  );
  await s.get('/410');
  assert.equal(cacheStatus(await s.get('/410')).hit, true);
  await s.get('/201');
  assert.equal((await s.get('/201')).body, 'created-2');
  await s.get('/418');
  assert.equal(cacheStatus(await s.get('/418')).hit, true);
});

test('edge: a 404 without freshness is negatively cached for negative404Seconds', async () => {
  await scenario({ cache: { negative404Seconds: 3 } });
  s.origin.script({ status: 404, body: 'nf1' }, { status: 404, body: 'nf2' });
  await s.get('/missing');
  s.advance(2);
  const b = await s.get('/missing');
  assert.equal(b.body, 'nf1');
  assert.equal(b.status, 404);
  s.advance(2);
  assert.equal((await s.get('/missing')).body, 'nf2');
});

test('edge: a 503 without freshness is negatively cached for negative5xxSeconds', async () => {
  await scenario({ cache: { negative5xxSeconds: 2 } });
  s.origin.script({ status: 503, body: 'e1' }, { status: 200, headers: { 'cache-control': 'max-age=9' }, body: 'ok' });
  await s.get('/err');
  s.advance(1);
  assert.equal((await s.get('/err')).body, 'e1');
  s.advance(2);
  assert.equal((await s.get('/err')).body, 'ok');
});

test('edge: responses with Set-Cookie are not stored', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'sid=alice' }, body: 'a' },
    { headers: { 'cache-control': 'max-age=60' }, body: 'b' },
  );
  assert.equal((await s.get('/c')).headers['set-cookie'], 'sid=alice');
  const b = await s.get('/c');
  assert.equal(b.body, 'b');
  assert.equal(b.headers['set-cookie'], undefined);
});

test('edge: CDN-Cache-Control (RFC 9213) governs the edge while Cache-Control goes to the client', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }, body: 'cdn' });
  await s.get('/cdn');
  const b = await s.get('/cdn');
  assert.equal(cacheStatus(b).hit, true);
  assert.equal(b.headers['cache-control'], 'no-store');
  assert.equal(b.headers['cdn-cache-control'], undefined);
});

test('edge: a request with Cache-Control: no-cache revalidates (fwd=request)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', etag: '"1"' }, body: 'a' },
    { expect: (r) => assert.equal(r.headers['if-none-match'], '"1"'), status: 304, headers: { etag: '"1"' } },
  );
  await s.get('/r');
  const b = await s.get('/r', { 'cache-control': 'no-cache' });
  assert.equal(cacheStatus(b).fwd, 'request');
  assert.equal(b.body, 'a');
});

test('edge: only-if-cached answers 504 when nothing is stored', async () => {
  await scenario();
  const a = await s.get('/none', { 'cache-control': 'only-if-cached' });
  assert.equal(a.status, 504);
});
