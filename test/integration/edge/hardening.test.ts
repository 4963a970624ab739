/**
 * Issue 16 (edge): hosts the edge serves, 304s that do not match, malformed CDN-Cache-Control,
 * negative caching of 5xx, invalid Age, the stored Date, Early Hints, JSON error bodies and
 * streamed misses. Real sockets: undici, raw net sockets for framing.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { Pool } from 'undici';
import { cacheStatus, gate, raw, Scenario, statuses } from '../../edge/support/scripted.ts';

let s: Scenario;
afterEach(async () => {
  s.origin.verify();
  await s.close();
});

async function scenario(config: Record<string, unknown> = {}): Promise<Scenario> {
  s = new Scenario();
  return s.start(config);
}

/** The JSON body of the first response in a raw transcript. */
function rawJson(out: string): { error: string; message: string } {
  const at = out.indexOf('\r\n\r\n');
  const head = out.slice(0, at);
  const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 'NaN');
  assert.match(head, /content-type: application\/json/i);
  return JSON.parse(out.slice(at + 4, at + 4 + len));
}

// 1. hosts

test('edge/hosts: an unknown Host gets 421 ERR_EDGE_UNKNOWN_HOST, never reaches the origin and is never stored', async () => {
  await scenario({ hosts: ['shop.test', 'static.shop.test'] });
  s.origin.script(
    { headers: { 'cache-control': 'max-age=60' }, body: 'mine' },
    { headers: { 'cache-control': 'max-age=60' }, body: 'mine' },
  );
  const bad = await s.get('/a.css', { host: 'evil.test' });
  assert.equal(bad.status, 421);
  const j = JSON.parse(bad.body);
  assert.equal(j.error, 'ERR_EDGE_UNKNOWN_HOST');
  assert.equal(typeof j.message, 'string');
  assert.equal(cacheStatus(bad).hit, undefined);
  assert.equal(s.edge.store.size, 0);
  assert.equal(s.origin.received.length, 0);
  // a configured host (any case, default port) is served
  const ok = await s.get('/a.css', { host: 'Static.Shop.Test:80' });
  assert.equal(ok.body, 'mine');
  // the edge's own address always works (health probes, zone redirects)
  assert.equal(cacheStatus(await s.get('/a.css')).fwd, 'uri-miss');
});

test('edge/hosts: a request with two Host fields is 400 (RFC 9112 §3.2)', async () => {
  await scenario();
  const out = await raw(s.url, 'GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n');
  assert.deepEqual(statuses(out), [400]);
  assert.equal(rawJson(out).error, 'ERR_EDGE_BAD_REQUEST');
  assert.equal(s.origin.received.length, 0);
});

// 2. a 304 that does not match the stored validator

test('edge: a 304 whose ETag does not match the stored one makes an unconditional refetch and a full 200', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=1', etag: '"1"' }, body: 'v1' },
    {
      expect: (r) => assert.equal(r.headers['if-none-match'], '"1"'),
      status: 304,
      headers: { etag: '"2"', 'cache-control': 'max-age=60' },
    },
    {
      expect: (r) => {
        assert.equal(r.headers['if-none-match'], undefined);
        assert.equal(r.headers['if-modified-since'], undefined);
      },
      headers: { 'cache-control': 'max-age=60', etag: '"2"' },
      body: 'v2',
    },
  );
  await s.get('/m');
  s.advance(10);
  const b = await s.get('/m');
  assert.equal(b.status, 200);
  assert.equal(b.body, 'v2');
  assert.equal(b.headers.etag, '"2"');
  const c = await s.get('/m');
  assert.equal(c.body, 'v2');
  assert.equal(cacheStatus(c).hit, true);
});

// 3. malformed CDN-Cache-Control

for (const bad of ['max-age=10000, &&&&&', 'max-age="10000"', 'max-age=-5', 'max-age=1.5']) {
  test(`edge: an invalid CDN-Cache-Control (${bad}) is ignored as a whole and Cache-Control: no-store decides`, async () => {
    await scenario();
    s.origin.script(
      { headers: { 'cache-control': 'no-store', 'cdn-cache-control': bad, etag: '"1"' }, body: 'one' },
      { headers: { 'cache-control': 'no-store', 'cdn-cache-control': bad, etag: '"1"' }, body: 'two' },
    );
    await s.get('/cdn');
    s.advance(60);
    const b = await s.get('/cdn');
    assert.equal(b.body, 'two');
    assert.equal(s.edge.store.size, 0);
  });
}

// 4. negative caching of 5xx is off by default

test('edge: a 5xx without freshness is not stored by default', async () => {
  await scenario();
  s.origin.script({ status: 500, body: 'e1' }, { status: 200, headers: { 'cache-control': 'max-age=9' }, body: 'ok' });
  assert.equal((await s.get('/err')).body, 'e1');
  const b = await s.get('/err');
  assert.equal(b.body, 'ok');
});

// 5. invalid Age never makes a response fresher

test('edge: a list-valued Age counts as its largest member (7200, 0 is 7200: stale at once)', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=3600', age: '7200, 0', etag: '"a"' }, body: 'old' },
    { expect: (r) => assert.equal(r.headers['if-none-match'], '"a"'), status: 304, headers: { etag: '"a"' } },
  );
  await s.get('/age');
  s.advance(1);
  const b = await s.get('/age');
  assert.equal(b.body, 'old');
  assert.equal(cacheStatus(b).fwd, 'stale');
});

test('edge: a non-numeric Age makes the response stale, never fresh', async () => {
  await scenario();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=3600', age: 'soon', etag: '"a"' }, body: 'old' },
    { status: 304, headers: { etag: '"a"' } },
  );
  await s.get('/age2');
  s.advance(1);
  assert.equal(cacheStatus(await s.get('/age2')).fwd, 'stale');
});

// 6. Date on hits

test('edge: a hit carries the stored Date (with Age), and a 304 refresh updates it', async () => {
  await scenario();
  const t0 = s.date();
  s.origin.script(
    { headers: { 'cache-control': 'max-age=20', etag: '"d"' }, body: 'd' },
    { status: 304, headers: { etag: '"d"', 'cache-control': 'max-age=20' } },
  );
  await s.get('/d');
  s.advance(15);
  const hit = await s.get('/d');
  assert.equal(hit.headers.date, t0);
  assert.equal(hit.headers.age, '15');
  s.advance(15);
  const t1 = s.date();
  const reval = await s.get('/d');
  assert.equal(cacheStatus(reval).fwd, 'stale');
  assert.equal(reval.headers.date, t1);
  s.advance(3);
  const hit2 = await s.get('/d');
  assert.equal(hit2.headers.date, t1);
  assert.equal(hit2.headers.age, '3');
});

// 7. Early Hints

test('edge: 103 Early Hints from the origin are relayed to an HTTP/1.1 client before the response', async () => {
  await scenario();
  s.origin.script({
    hints: { link: '</s.css>; rel=preload; as=style' },
    headers: { 'cache-control': 'max-age=60', 'content-type': 'text/html' },
    body: '<p>hi</p>',
  });
  const infos: { statusCode: number; headers: Record<string, string | string[]> }[] = [];
  const pool = new Pool(s.url);
  try {
    const r = await pool.request({ method: 'GET', path: '/page', onInfo: (i) => infos.push(i) });
    assert.equal(await r.body.text(), '<p>hi</p>');
  } finally {
    await pool.close();
  }
  assert.equal(infos.length, 1);
  assert.equal(infos[0]!.statusCode, 103);
  assert.equal(infos[0]!.headers.link, '</s.css>; rel=preload; as=style');
});

// 8. edge-made errors are JSON

test('edge: a malformed request line and an oversized header block get JSON error bodies', async () => {
  await scenario({ limits: { maxHeaderBytes: 2048 } });
  const garbage = await raw(s.url, 'GARBAGE\r\n\r\n');
  assert.equal(statuses(garbage)[0], 400);
  assert.equal(rawJson(garbage).error, 'ERR_EDGE_BAD_REQUEST');
  const big = await raw(s.url, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
  assert.equal(statuses(big)[0], 431);
  assert.equal(rawJson(big).error, 'ERR_EDGE_BAD_REQUEST');
});

test('edge: TRACE and CONNECT are 405 with a JSON body and never reach the origin', async () => {
  await scenario();
  const trace = await s.req('TRACE', '/x');
  assert.equal(trace.status, 405);
  assert.equal(JSON.parse(trace.body).error, 'ERR_EDGE_METHOD_NOT_ALLOWED');
  assert.ok(String(trace.headers.allow).includes('GET'));
  const out = await raw(s.url, 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n');
  assert.equal(statuses(out)[0], 405);
  assert.equal(rawJson(out).error, 'ERR_EDGE_METHOD_NOT_ALLOWED');
  assert.equal(s.origin.received.length, 0);
});

test('edge: an edge-made 400 is JSON with a message and its Cache-Status does not say hit', async () => {
  await scenario();
  const out = await raw(s.url, 'GET /a%zz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(statuses(out)[0], 400);
  const j = rawJson(out);
  assert.equal(j.error, 'ERR_EDGE_BAD_REQUEST');
  assert.equal(typeof j.message, 'string');
  const cs = /cache-status: ([^\r]*)/i.exec(out)?.[1] ?? '';
  assert.doesNotMatch(cs, /hit/);
});

test('edge: a 502 when the origin fails is JSON with a code and a message', async () => {
  await scenario();
  s.origin.script({ reset: true });
  const r = await s.get('/gone');
  assert.equal(r.status, 502);
  const j = JSON.parse(r.body);
  assert.equal(j.error, 'ERR_EDGE_UPSTREAM');
  assert.equal(typeof j.message, 'string');
  assert.doesNotMatch(String(r.headers['cache-status']), /hit/);
});

// 9. streamed misses

test('edge: a miss streams to the client while it is stored; a collapsed follower gets the whole body', async () => {
  await scenario();
  const firstSeen = gate();
  let openedBy = '';
  const head = Buffer.alloc(64 * 1024, 'a');
  const tail = Buffer.alloc(64 * 1024, 'b');
  s.origin.script({
    write: async (res) => {
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        'content-type': 'application/octet-stream',
        'content-length': String(head.length + tail.length),
        date: s.date(),
      });
      res.write(head);
      // wait for the client to see the first bytes; the fallback only keeps a broken edge from hanging
      const fallback = setTimeout(() => {
        openedBy ||= 'fallback';
        firstSeen.open();
      }, 3000);
      await firstSeen.promise;
      clearTimeout(fallback);
      res.end(tail);
    },
  });
  const pool = new Pool(s.url, { connections: 4 });
  try {
    const r = await pool.request({ method: 'GET', path: '/big.bin' });
    assert.match(String(r.headers['cache-status']), /fwd=uri-miss/);
    const chunks: Buffer[] = [];
    let follower: Promise<{ body: Buffer; cs: string }> | undefined;
    for await (const c of r.body) {
      chunks.push(c as Buffer);
      if (!follower) {
        openedBy ||= 'client';
        // a second request while the first is still streaming joins the fetch
        follower = pool.request({ method: 'GET', path: '/big.bin' }).then(async (f) => ({
          body: Buffer.from(await f.body.arrayBuffer()),
          cs: String(f.headers['cache-status']),
        }));
        const k = `GET ${new URL(s.url).host}/big.bin`;
        while (s.edge.collapser.isBusy(k) && s.edge.collapser.waiters(k) === 0)
          await new Promise((res) => setImmediate(res));
        firstSeen.open();
      }
    }
    assert.equal(openedBy, 'client');
    assert.ok(Buffer.concat(chunks).equals(Buffer.concat([head, tail])));
    const f = await follower!;
    assert.ok(f.body.equals(Buffer.concat([head, tail])));
    assert.match(f.cs, /collapsed/);
    const third = await s.get('/big.bin');
    assert.equal(cacheStatus(third).hit, true);
    assert.equal(third.raw.length, head.length + tail.length);
  } finally {
    await pool.close();
  }
});

test('edge: an origin abort mid-body (streamed miss) stores nothing', async () => {
  await scenario();
  s.origin.script(
    {
      write: async (res) => {
        res.writeHead(200, {
          'cache-control': 'max-age=60',
          'content-type': 'application/octet-stream',
          'content-length': '100000',
        });
        res.write(Buffer.alloc(1000, 'x'));
        await new Promise((r) => setImmediate(r));
        res.socket?.destroy();
      },
    },
    { headers: { 'cache-control': 'max-age=60', 'content-type': 'application/octet-stream' }, body: 'whole' },
  );
  await assert.rejects(s.get('/cut.bin'));
  assert.equal(s.edge.store.size, 0);
  const b = await s.get('/cut.bin');
  assert.equal(b.body, 'whole');
});

test('edge: a streamed miss that outgrows maxObjectBytes reaches the client whole and is not stored', async () => {
  await scenario({ cache: { maxObjectBytes: 4096 } });
  s.origin.script({
    write: async (res) => {
      // no Content-Length: the edge learns the size only as the body arrives
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 4; i++) {
        res.write(Buffer.alloc(2000, 48 + i));
        await new Promise((r) => setImmediate(r));
      }
      res.end();
    },
  });
  const r = await s.get('/grows.bin');
  assert.equal(r.raw.length, 8000);
  assert.equal(r.raw[7999], 51);
  assert.equal(s.edge.store.size, 0);
});
