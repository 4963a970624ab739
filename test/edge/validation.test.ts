/** RFC 9111 validation, Vary, RFC 5861, invalidation, HEAD and Range: one scenario per behaviour. */
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

test('edge: a stale object is revalidated with If-None-Match and a 304 refreshes the stored headers', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=5', etag: '"v1"', 'x-version': '1' }, body: 'same' },
    {
      expect: (r) => assert.equal(r.headers['if-none-match'], '"v1"'),
      status: 304,
      headers: { 'cache-control': 'max-age=100', etag: '"v1"', 'x-version': '2' },
    },
  );
  await s.get('/v');
  s.advance(10);
  const b = await s.get('/v');
  assert.equal(b.status, 200);
  assert.equal(b.body, 'same');
  assert.equal(b.headers['x-version'], '2');
  assert.deepEqual(cacheStatus(b), { fwd: 'stale', 'fwd-status': '304', stored: true, ttl: '100' });
  s.advance(50);
  const c = await s.get('/v');
  assert.equal(cacheStatus(c).hit, true);
  assert.equal(c.headers['x-version'], '2');
});

test('edge: revalidation uses If-Modified-Since when there is only Last-Modified', async () => {
  await scenario();
  const lm = s.date(-3600);
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1', 'last-modified': lm }, body: 'x' },
    {
      expect: (r) => {
        assert.equal(r.headers['if-modified-since'], lm);
        assert.equal(r.headers['if-none-match'], undefined);
      },
      status: 304,
      headers: { 'cache-control': 'max-age=60' },
    },
  );
  await s.get('/lm');
  s.advance(2);
  assert.equal((await s.get('/lm')).body, 'x');
});

test('edge: a 200 answer to a revalidation replaces the stored object', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1', etag: '"1"' }, body: 'old' },
    { headers: { 'cache-control': 'max-age=60', etag: '"2"' }, body: 'new' },
  );
  await s.get('/r');
  s.advance(2);
  assert.equal((await s.get('/r')).body, 'new');
  assert.equal((await s.get('/r')).body, 'new');
});

test("edge: the client's own If-None-Match is answered 304 from cache", async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60', etag: '"e1"' }, body: 'body' });
  await s.get('/c');
  const b = await s.get('/c', { 'if-none-match': 'W/"e1", "zz"' });
  assert.equal(b.status, 304);
  assert.equal(b.body, '');
  assert.equal(b.headers.etag, '"e1"');
  assert.equal(cacheStatus(b).hit, true);
  const c = await s.get('/c', { 'if-none-match': '"other"' });
  assert.equal(c.status, 200);
});

test("edge: the client's own If-Modified-Since is answered 304 from cache", async () => {
  await scenario();
  const lm = s.date(-3600);
  s.origin.script({ headers: { 'cache-control': 'max-age=60', 'last-modified': lm }, body: 'body' });
  await s.get('/c');
  assert.equal((await s.get('/c', { 'if-modified-since': s.date(0) })).status, 304);
  assert.equal((await s.get('/c', { 'if-modified-since': s.date(-7200) })).status, 200);
});

test('edge: Vary keeps one variant per value of the named request field', async () => {
  await scenario();
  s.origin.script(
    {
      expect: (r) => assert.equal(r.headers['accept-language'], 'en'),
      headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
      body: 'hello',
    },
    {
      expect: (r) => assert.equal(r.headers['accept-language'], 'fr'),
      headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
      body: 'bonjour',
    },
  );
  assert.equal((await s.get('/v', { 'accept-language': 'en' })).body, 'hello');
  const fr = await s.get('/v', { 'accept-language': 'fr' });
  assert.equal(fr.body, 'bonjour');
  assert.equal(cacheStatus(fr).fwd, 'vary-miss');
  const en = await s.get('/v', { 'accept-language': 'en' });
  assert.equal(en.body, 'hello');
  assert.equal(cacheStatus(en).hit, true);
  assert.equal((await s.get('/v', { 'accept-language': 'fr' })).body, 'bonjour');
});

test('edge: Vary: Accept-Encoding matches normalised values (order, q, spacing)', async () => {
  await scenario({ compression: { enabled: false } });
  s.origin.script({ headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' }, body: 'z' });
  await s.get('/ae', { 'accept-encoding': 'gzip, deflate, br' });
  const b = await s.get('/ae', { 'accept-encoding': 'br;q=1.0,gzip ,  deflate, identity' });
  assert.equal(cacheStatus(b).hit, true);
});

test('edge: Vary: * never matches, so such responses are not stored', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', vary: '*' }, body: 'a' },
    { headers: { 'cache-control': 'max-age=60', vary: '*' }, body: 'b' },
  );
  await s.get('/star');
  assert.equal((await s.get('/star')).body, 'b');
});

test('edge: stale-while-revalidate serves stale at once and refreshes in the background', async () => {
  await scenario();
  let seen!: () => void;
  const refreshed = new Promise<void>((r) => {
    seen = r;
  });
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, stale-while-revalidate=60', etag: '"1"' }, body: 'old' },
    {
      expect: (r) => {
        assert.equal(r.headers['if-none-match'], '"1"');
        seen();
      },
      headers: { 'cache-control': 'max-age=60', etag: '"2"' },
      body: 'new',
    },
  );
  await s.get('/swr');
  s.advance(10);
  const b = await s.get('/swr');
  assert.equal(b.body, 'old');
  assert.equal(cacheStatus(b).hit, true);
  assert.equal(cacheStatus(b).detail, 'stale-while-revalidate');
  await refreshed;
  // the background fetch finishes storing before the collapser releases the key
  const k = `GET ${new URL(s.url).host}/swr`;
  for (let i = 0; i < 400 && s.edge.collapser.isBusy(k); i++) await new Promise((r) => setTimeout(r, 5));
  const c = await s.get('/swr');
  assert.equal(c.body, 'new');
  assert.equal(cacheStatus(c).hit, true);
});

test('edge: stale-if-error serves the stale object when the origin answers 5xx', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, stale-if-error=60' }, body: 'stale-ok' },
    { status: 503, body: 'down' },
  );
  await s.get('/sie');
  s.advance(10);
  const b = await s.get('/sie');
  assert.equal(b.status, 200);
  assert.equal(b.body, 'stale-ok');
  assert.equal(cacheStatus(b).detail, 'stale-if-error');
});

test('edge: stale-if-error serves the stale object when the origin is unreachable', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=1, stale-if-error=60' }, body: 'stale-ok' }, { reset: true });
  await s.get('/sie');
  s.advance(10);
  const b = await s.get('/sie');
  assert.equal(b.body, 'stale-ok');
  assert.equal(b.headers.age, '10');
});

test('edge: stale-if-error does not apply beyond its window', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1, stale-if-error=5' }, body: 'x' },
    { status: 503, body: 'down' },
  );
  await s.get('/sie');
  s.advance(30);
  assert.equal((await s.get('/sie')).status, 503);
});

test('edge: a successful POST invalidates the stored object (§4.4)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60', etag: '"1"' }, body: 'v1' },
    { expect: (r) => assert.equal(r.body, 'change'), status: 204 },
    { headers: { 'cache-control': 'max-age=60', etag: '"2"' }, body: 'v2' },
  );
  await s.get('/doc');
  const p = await s.req('POST', '/doc', { 'content-type': 'text/plain' }, 'change');
  assert.equal(p.status, 204);
  assert.equal(cacheStatus(p).fwd, 'method');
  assert.equal((await s.get('/doc')).body, 'v2');
});

test('edge: invalidation covers same-origin Location and Content-Location, not other hosts', async () => {
  await scenario();
  const cc = { 'cache-control': 'max-age=60' };
  s.origin.script(
    { headers: cc, body: 'a1' },
    { headers: cc, body: 'b1' },
    { headers: cc, body: 'c1' },
    { status: 201, headers: { location: '/b', 'content-location': 'http://other.example/c' } },
    { headers: cc, body: 'a2' },
    { headers: cc, body: 'b2' },
  );
  await s.get('/a');
  await s.get('/b');
  await s.get('/c');
  await s.req('PUT', '/a', {}, 'x');
  assert.equal((await s.get('/a')).body, 'a2');
  assert.equal((await s.get('/b')).body, 'b2');
  assert.equal((await s.get('/c')).body, 'c1');
});

test('edge: an failed POST (5xx) does not invalidate', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60' }, body: 'v1' }, { status: 500 });
  await s.get('/doc');
  await s.req('POST', '/doc', {}, 'x');
  assert.equal(cacheStatus(await s.get('/doc')).hit, true);
});

test('edge: HEAD is served from a cached GET', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60' }, body: 'twelve bytes' });
  await s.get('/h');
  const h = await s.req('HEAD', '/h');
  assert.equal(h.status, 200);
  assert.equal(h.body, '');
  assert.equal(h.headers['content-length'], '12');
  assert.equal(cacheStatus(h).hit, true);
});

test('edge: a HEAD miss fills the cache with a GET', async () => {
  await scenario();
  s.origin.script({
    expect: (r) => assert.equal(r.method, 'GET'),
    headers: { 'cache-control': 'max-age=60' },
    body: 'abc',
  });
  const h = await s.req('HEAD', '/h2');
  assert.equal(h.body, '');
  assert.equal((await s.get('/h2')).body, 'abc');
});

test('edge: a single Range is served as 206 from the cached full object', async () => {
  await scenario();
  s.origin.script({
    expect: (r) => assert.equal(r.headers.range, undefined),
    headers: { 'cache-control': 'max-age=60', etag: '"r"' },
    body: '0123456789',
  });
  const a = await s.get('/r', { range: 'bytes=2-4' });
  assert.equal(a.status, 206);
  assert.equal(a.body, '234');
  assert.equal(a.headers['content-range'], 'bytes 2-4/10');
  const b = await s.get('/r', { range: 'bytes=-3' });
  assert.equal(b.body, '789');
  const c = await s.get('/r', { range: 'bytes=7-' });
  assert.equal(c.body, '789');
  assert.equal(cacheStatus(c).hit, true);
});

test('edge: an unsatisfiable Range gets 416; If-Range with an old validator gets the full 200', async () => {
  await scenario();
  s.origin.script({ headers: { 'cache-control': 'max-age=60', etag: '"r"' }, body: '0123456789' });
  await s.get('/r');
  const a = await s.get('/r', { range: 'bytes=20-30' });
  assert.equal(a.status, 416);
  assert.equal(a.headers['content-range'], 'bytes */10');
  const b = await s.get('/r', { range: 'bytes=0-1', 'if-range': '"old"' });
  assert.equal(b.status, 200);
  assert.equal(b.body, '0123456789');
  const c = await s.get('/r', { range: 'bytes=0-1', 'if-range': '"r"' });
  assert.equal(c.status, 206);
});
