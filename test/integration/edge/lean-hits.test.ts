/**
 * The lean hit path itself, over raw sockets: pipelined hits answered in order, the switch to
 * node:http at the first request it does not serve (a miss, a body, a smuggling attempt) with
 * the later requests still answered in order, conditionals, HEAD, Connection: close, disk-tier
 * hits read without blocking, and the counters. Every other edge suite also runs on this path
 * (see node-path.test.ts for the other one).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { raw, Scenario, statuses } from '../../edge/support/scripted.ts';

let s: Scenario;
const dirs: string[] = [];
afterEach(async () => {
  s.origin.verify();
  await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function scenario(config: Record<string, unknown> = {}): Promise<Scenario> {
  s = new Scenario();
  return s.start({ leanHits: true, ...config });
}

const CACHEABLE = { 'cache-control': 'max-age=600', etag: '"v1"', 'content-type': 'text/plain' };

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${new URL(s.url).host}\r\n${extra}\r\n`;
}

/** The bodies of the responses in a raw transcript (by Content-Length). */
function bodies(out: string): string[] {
  const found: string[] = [];
  let p = 0;
  for (;;) {
    const at = out.indexOf('\r\n\r\n', p);
    if (at < 0) return found;
    const head = out.slice(p, at);
    const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    const noBody = /^HTTP\/1\.1 304/.test(head) || /x-head: 1/.test(head);
    found.push(noBody ? '' : out.slice(at + 4, at + 4 + len));
    p = at + 4 + (noBody ? 0 : len);
  }
}

async function stats(): Promise<{ all: number; lean: number }> {
  return s.edge.stats().hits as { all: number; lean: number };
}

test('edge/lean: pipelined hits are answered in order on one connection, from the lean path', async () => {
  await scenario();
  s.origin.script({ headers: CACHEABLE, body: 'A' }, { headers: CACHEABLE, body: 'B' });
  await s.get('/a');
  await s.get('/b');
  const out = await raw(s.url, get('/a') + get('/b') + get('/a') + get('/b', 'Connection: close\r\n'));
  assert.deepEqual(statuses(out), [200, 200, 200, 200]);
  assert.deepEqual(bodies(out), ['A', 'B', 'A', 'B']);
  assert.equal((out.match(/cache-status: multizone; hit; ttl=600/g) ?? []).length, 4);
  assert.match(out, /connection: close/);
  assert.deepEqual(await stats(), { all: 4, lean: 4 });
  assert.equal(await s.metric('mz_edge_lean_hits_total'), 4);
  assert.equal(await s.metric('mz_edge_hits_total'), 4);
});

test('edge/lean: at the first miss the connection moves to node:http and every later request is still answered in order', async () => {
  await scenario();
  s.origin.script(
    { headers: CACHEABLE, body: 'A' },
    { expect: (r) => assert.equal(r.url, '/miss'), headers: CACHEABLE, body: 'M' },
  );
  await s.get('/a');
  const out = await raw(
    s.url,
    get('/a') + get('/a') + get('/miss') + get('/a') + get('/miss', 'Connection: close\r\n'),
  );
  assert.deepEqual(statuses(out), [200, 200, 200, 200, 200]);
  assert.deepEqual(bodies(out), ['A', 'A', 'M', 'A', 'M']);
  // two hits on the lean path, then node:http: the miss, a hit, a hit of what the miss stored
  assert.deepEqual(await stats(), { all: 4, lean: 2 });
  // the first request of the test's own fresh connection was a miss too
  assert.equal(await s.metric('mz_edge_lean_handoffs_total', { reason: 'miss' }), 2);
});

test('edge/lean: a request with a body after hits goes to node:http with its body, framed as node:http frames it', async () => {
  await scenario();
  s.origin.script(
    { headers: CACHEABLE, body: 'A' },
    { expect: (r) => assert.deepEqual([r.method, r.body], ['POST', 'hello']), body: 'posted' },
  );
  await s.get('/a');
  const post = 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
  const out = await raw(
    s.url,
    get('/a') + post.replace('Host: x', `Host: ${new URL(s.url).host}`) + get('/a', 'Connection: close\r\n'),
  );
  assert.deepEqual(statuses(out), [200, 200, 200]);
  assert.deepEqual(bodies(out), ['A', 'posted', 'A']);
  // the hit before the POST on the lean path, the one after it on node:http
  assert.deepEqual(await stats(), { all: 2, lean: 1 });
});

test('edge/lean: smuggling after a hit (CL.TE) is 400 from node:http and nothing reaches the origin', async () => {
  await scenario();
  s.origin.script({ headers: CACHEABLE, body: 'A' });
  await s.get('/a');
  const host = new URL(s.url).host;
  const out = await raw(
    s.url,
    `${get('/a')}POST /x HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
  );
  assert.deepEqual(statuses(out), [200, 400]);
  assert.equal(s.origin.received.length, 1);
  assert.equal(await s.metric('mz_edge_lean_handoffs_total', { reason: 'method' }), 1);
});

test('edge/lean: hostile heads (obs-fold, bare LF, two Host fields) get the answers node:http gives', async () => {
  await scenario();
  s.origin.script({ headers: CACHEABLE, body: 'A' });
  await s.get('/a');
  const host = new URL(s.url).host;
  const fold = await raw(s.url, `GET /a HTTP/1.1\r\nHost: ${host}\r\nX-A: b\r\n c\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(fold), [400]);
  const lf = await raw(s.url, `GET /a HTTP/1.1\nHost: ${host}\nConnection: close\n\n`);
  assert.ok(statuses(lf).length <= 1);
  if (statuses(lf).length === 1) assert.doesNotMatch(lf, /multizone; hit/);
  const twoHosts = await raw(s.url, `GET /a HTTP/1.1\r\nHost: ${host}\r\nHost: evil.test\r\nConnection: close\r\n\r\n`);
  assert.deepEqual(statuses(twoHosts), [400]);
  assert.equal(s.origin.received.length, 1);
});

test("edge/lean: the client's conditional gets 304, HEAD gets the fields without the body", async () => {
  await scenario();
  s.origin.script({ headers: CACHEABLE, body: 'hello' });
  await s.get('/c');
  const host = new URL(s.url).host;
  const out = await raw(
    s.url,
    `${get('/c', 'If-None-Match: "v1"\r\n')}HEAD /c HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  assert.deepEqual(statuses(out), [304, 200]);
  const [notModified, head] = out.split(/(?=HTTP\/1\.1 200)/);
  assert.match(notModified!, /etag: "v1"/);
  assert.doesNotMatch(notModified!, /content-length/i);
  assert.match(head!, /content-length: 5\r\n/);
  assert.ok(head!.endsWith('\r\n\r\n'), 'no body after the HEAD reply');
  assert.deepEqual(await stats(), { all: 2, lean: 2 });
});

test('edge/lean: a hit from the disk tier is read without blocking and served on the lean path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-edge-lean-'));
  dirs.push(dir);
  // a memory tier too small for the object: every hit reads the ring file
  await scenario({ cache: { memoryBytes: 1024 }, disk: { path: join(dir, 'ring'), sizeBytes: 1 << 20 } });
  const body = 'd'.repeat(4000);
  s.origin.script({ headers: CACHEABLE, body });
  await s.get('/disk');
  const before = s.edge.store.stats.diskHits;
  const out = await raw(s.url, get('/disk') + get('/disk', 'Connection: close\r\n'));
  assert.deepEqual(statuses(out), [200, 200]);
  assert.deepEqual(bodies(out), [body, body]);
  assert.equal(s.edge.store.stats.diskHits - before, 2);
  assert.deepEqual(await stats(), { all: 2, lean: 2 });
});

test('edge/lean: with leanHits off every request takes node:http', async () => {
  await scenario({ leanHits: false });
  s.origin.script({ headers: CACHEABLE, body: 'A' });
  await s.get('/a');
  const out = await raw(s.url, get('/a') + get('/a', 'Connection: close\r\n'));
  assert.deepEqual(statuses(out), [200, 200]);
  assert.deepEqual(await stats(), { all: 2, lean: 0 });
});
