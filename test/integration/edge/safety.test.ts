/**
 * Safety of the edge against hostile requests, over raw sockets: framing (no request
 * smuggling), size limits, malformed targets, cache poisoning through unkeyed headers, and
 * the admin API's token.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { cacheStatus, raw, Scenario, statuses } from '../../edge/support/scripted.ts';

let s: Scenario;
afterEach(async () => {
  s.origin.verify();
  await s.close();
});

async function scenario(config: Record<string, unknown> = {}, token?: string): Promise<Scenario> {
  s = new Scenario();
  return s.start(config, { token });
}

test('edge: Content-Length with Transfer-Encoding is 400 and nothing reaches the origin (CL.TE)', async () => {
  await scenario();
  const out = await raw(
    s.url,
    'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
  );
  assert.deepEqual(statuses(out), [400]);
  assert.equal(s.origin.received.length, 0);
});

test('edge: an obfuscated Transfer-Encoding is 400 (TE.TE)', async () => {
  await scenario();
  const out = await raw(s.url, 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n');
  // the leftover bytes may draw a second 400 from the parser before the socket closes
  assert.equal(statuses(out)[0], 400);
  assert.ok(statuses(out).every((c) => c === 400));
  assert.equal(s.origin.received.length, 0);
});

test('edge: two different Content-Length fields are 400', async () => {
  await scenario();
  const out = await raw(s.url, 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
  assert.deepEqual(statuses(out), [400]);
  assert.equal(s.origin.received.length, 0);
});

test('edge: a malformed request line is 400', async () => {
  await scenario();
  assert.deepEqual(statuses(await raw(s.url, 'GET /a b c HTTP/1.1\r\nHost: a\r\n\r\n')), [400]);
  assert.deepEqual(statuses(await raw(s.url, 'GARBAGE\r\n\r\n')), [400]);
});

test('edge: a request without Host is 400', async () => {
  await scenario();
  assert.deepEqual(statuses(await raw(s.url, 'GET / HTTP/1.1\r\n\r\n')), [400]);
});

test('edge: a header block over maxHeaderBytes is 431', async () => {
  await scenario({ limits: { maxHeaderBytes: 2048 } });
  const out = await raw(s.url, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
  assert.deepEqual(statuses(out), [431]);
});

test('edge: more than maxHeaders fields is 431', async () => {
  await scenario({ limits: { maxHeaders: 10 } });
  const many = Array.from({ length: 20 }, (_, i) => `X-H${i}: v\r\n`).join('');
  const out = await raw(s.url, `GET / HTTP/1.1\r\nHost: a\r\n${many}\r\n`);
  assert.deepEqual(statuses(out), [431]);
});

test('edge: a target longer than maxUrlBytes is 414', async () => {
  await scenario({ limits: { maxUrlBytes: 100 } });
  const r = await s.get(`/${'a'.repeat(200)}`);
  assert.equal(r.status, 414);
  assert.equal(JSON.parse(r.body).error, 'ERR_EDGE_BAD_REQUEST');
});

test('edge: an invalid percent-escape is 400', async () => {
  await scenario();
  assert.deepEqual(statuses(await raw(s.url, 'GET /a%zz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')), [400]);
});

test('edge: a malformed Host is 400', async () => {
  await scenario();
  assert.deepEqual(statuses(await raw(s.url, 'GET / HTTP/1.1\r\nHost: a b@c\r\nConnection: close\r\n\r\n')), [400]);
});

test('edge: dot-segments and escaped unreserved characters normalise to one cache key', async () => {
  await scenario();
  s.origin.script({
    expect: (r) => assert.equal(r.url, '/a/b~c'),
    headers: { 'cache-control': 'max-age=60' },
    body: 'x',
  });
  await s.get('/a/b~c');
  const out = await raw(
    s.url,
    `GET /a/./x/../b%7Ec HTTP/1.1\r\nHost: ${new URL(s.url).host}\r\nConnection: close\r\n\r\n`,
  );
  assert.match(out, /cache-status: multizone; hit/i);
});

test('edge: X-Forwarded-Host and friends are not forwarded, so they cannot poison the shared object', async () => {
  await scenario();
  s.origin.script({
    expect: (r) => {
      for (const h of ['x-forwarded-host', 'x-host', 'x-original-url', 'x-rewrite-url', 'x-http-method-override'])
        assert.equal(r.headers[h], undefined, h);
    },
    headers: { 'cache-control': 'max-age=60' },
    body: 'clean',
  });
  const attacker = await s.get('/page', {
    'x-forwarded-host': 'evil.example',
    'x-host': 'evil.example',
    'x-original-url': '/admin',
    'x-rewrite-url': '/admin',
    'x-http-method-override': 'DELETE',
  });
  assert.equal(attacker.body, 'clean');
  const victim = await s.get('/page');
  assert.equal(victim.body, 'clean');
  assert.equal(cacheStatus(victim).hit, true);
  assert.ok((await s.metric('mz_edge_filter_total', { filter: 'forward', result: 'unkeyed-stripped' })) >= 1);
});

test('edge: the Host is part of the key (another host gets its own object)', async () => {
  await scenario();
  s.origin.script(
    { expect: (r) => assert.equal(r.headers.host, 'a.example'), headers: { 'cache-control': 'max-age=60' }, body: 'A' },
    { expect: (r) => assert.equal(r.headers.host, 'b.example'), headers: { 'cache-control': 'max-age=60' }, body: 'B' },
  );
  assert.equal((await s.get('/', { host: 'a.example' })).body, 'A');
  assert.equal((await s.get('/', { host: 'b.example' })).body, 'B');
  assert.equal((await s.get('/', { host: 'A.EXAMPLE' })).body, 'A');
});

test('edge: an unkeyed header cannot split or poison a Vary-less object via a conditional either', async () => {
  await scenario();
  s.origin.script({
    expect: (r) => assert.equal(r.headers['if-none-match'], undefined),
    headers: { 'cache-control': 'max-age=60', etag: '"x"' },
    body: 'full',
  });
  // a client's conditional must not turn the shared fill into a bodiless 304
  const a = await s.get('/cond', { 'if-none-match': '"x"' });
  assert.equal(a.status, 304);
  const b = await s.get('/cond');
  assert.equal(b.status, 200);
  assert.equal(b.body, 'full');
});

test('edge: purge, push and preload need the bearer token', async () => {
  await scenario({}, 'sekret');
  const purge = await s.req('POST', '/.mz/purge', { 'content-type': 'application/json' }, '{"urls":["/x"]}');
  assert.equal(purge.status, 401);
  assert.equal(JSON.parse(purge.body).error, 'ERR_EDGE_UNAUTHORIZED');
  const push = await s.req('PUT', '/.mz/push?url=/x', { authorization: 'Bearer wrong' }, 'evil');
  assert.equal(push.status, 401);
  const ok = await s.req('POST', '/.mz/purge', { authorization: 'Bearer sekret' }, '{"urls":["/x"]}');
  assert.equal(ok.status, 200);
});

test('edge: the admin API is disabled (403) without a configured token', async () => {
  await scenario();
  const r = await s.req('POST', '/.mz/purge', { authorization: 'Bearer ' }, '{}');
  assert.equal(r.status, 403);
});
