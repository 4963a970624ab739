/** Request collapsing (Varnish's waiting list): one origin fetch per key, and no wedged waiters. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { cacheStatus, gate, Scenario } from './support/scripted.ts';

let s: Scenario;
afterEach(async () => {
  s.origin.verify();
  await s.close();
});

async function scenario(config: Record<string, unknown> = {}): Promise<Scenario> {
  s = new Scenario();
  return s.start(config);
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** The primary key of a path on this scenario's edge. */
function key(path: string): string {
  return `GET ${new URL(s.url).host}${path}`;
}

/** Waits until n requests are queued behind the fetch for path (bounded). */
async function waiters(path: string, n: number): Promise<void> {
  for (let i = 0; i < 400 && s.edge.collapser.waiters(key(path)) < n; i++) await tick();
  assert.equal(s.edge.collapser.waiters(key(path)), n);
}

/** Waits until a fetch for path is in flight (bounded). */
async function busy(path: string): Promise<void> {
  for (let i = 0; i < 400 && !s.edge.collapser.isBusy(key(path)); i++) await tick();
  assert.ok(s.edge.collapser.isBusy(key(path)));
}

test('edge: concurrent misses for one key share a single origin fetch', async () => {
  await scenario();
  const g = gate();
  s.origin.script({ hold: g.promise, headers: { 'cache-control': 'max-age=60' }, body: 'shared' });
  const all = Array.from({ length: 6 }, () => s.get('/busy'));
  await waiters('/busy', 5);
  g.open();
  const got = await Promise.all(all);
  assert.deepEqual(
    got.map((g) => g.body),
    Array(6).fill('shared'),
  );
  assert.equal(s.origin.received.length, 1);
  assert.equal(await s.metric('mz_edge_collapsed_total'), 5);
  assert.equal(got.filter((g) => cacheStatus(g).collapsed === true).length, 5);
});

test('edge: waiters on a slow fetch time out with 504 and the leader still gets its answer', async () => {
  await scenario({ cache: { collapseTimeoutMs: 1000 } });
  const g = gate();
  s.origin.script({ hold: g.promise, headers: { 'cache-control': 'max-age=60' }, body: 'late' });
  const leader = s.get('/slow');
  await busy('/slow');
  const w = [s.get('/slow'), s.get('/slow')];
  await waiters('/slow', 2);
  s.clock.advance(1001);
  const timedOut = await Promise.all(w);
  assert.deepEqual(
    timedOut.map((t) => t.status),
    [504, 504],
  );
  assert.equal(JSON.parse(timedOut[0]!.body).error, 'ERR_EDGE_COLLAPSE_TIMEOUT');
  g.open();
  assert.equal((await leader).body, 'late');
  assert.equal(cacheStatus(await s.get('/slow')).hit, true);
});

test('edge: a failed fetch fails its waiters and the next request retries', async () => {
  await scenario();
  const g = gate();
  s.origin.script({ hold: g.promise, reset: true }, { headers: { 'cache-control': 'max-age=60' }, body: 'second try' });
  const all = Array.from({ length: 3 }, () => s.get('/flaky'));
  await waiters('/flaky', 2);
  g.open();
  const got = await Promise.all(all);
  assert.deepEqual(
    got.map((x) => x.status),
    [502, 502, 502],
  );
  assert.equal(JSON.parse(got[1]!.body).error, 'ERR_EDGE_UPSTREAM');
  const again = await s.get('/flaky');
  assert.equal(again.body, 'second try');
});

test('edge: when the shared fetch is uncacheable, waiters fetch for themselves (no wrong sharing)', async () => {
  await scenario();
  const g = gate();
  s.origin.script(
    { hold: g.promise, headers: { 'cache-control': 'private' }, body: 'for-1' },
    { headers: { 'cache-control': 'private' }, body: 'for-2' },
  );
  const a = s.get('/private');
  await busy('/private');
  const b = s.get('/private');
  await waiters('/private', 1);
  g.open();
  assert.equal((await a).body, 'for-1');
  assert.equal((await b).body, 'for-2');
});

test('edge: after an uncacheable answer the key is hit-for-pass (no collapsing) for a while', async () => {
  await scenario({ cache: { hitForPassSeconds: 10 } });
  s.origin.script(
    { headers: { 'cache-control': 'no-store' }, body: '1' },
    { headers: { 'cache-control': 'no-store' }, body: '2' },
    { headers: { 'cache-control': 'max-age=60' }, body: '3' },
  );
  await s.get('/hfp');
  const b = await s.get('/hfp');
  assert.equal(cacheStatus(b).fwd, 'bypass');
  s.clock.advance(11_000);
  const c = await s.get('/hfp');
  assert.equal(cacheStatus(c).fwd, 'uri-miss');
  assert.equal(cacheStatus(c).stored, true);
});
