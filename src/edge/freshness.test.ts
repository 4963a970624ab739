import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deltaSeconds, parseCacheControl } from './cache-control.ts';
import {
  clientNotModified,
  correctedInitialAge,
  DEFAULT_FRESHNESS,
  type FreshnessState,
  freshnessLifetime,
  mergeNotModified,
  requestDirectives,
  reuseVerdict,
  staleIfErrorAllowed,
  storability,
  storedHeaders,
} from './freshness.ts';
import { formatHttpDate, parseHttpDate } from './http-date.ts';

const T = 1_750_000_000_000;
const d = (s: number) => formatHttpDate(T + s * 1000);

test('edge/http-date: the three HTTP-date forms parse; anything else is NaN', () => {
  const cases: [string, number][] = [
    ['Sun, 06 Nov 1994 08:49:37 GMT', 784111777000],
    ['Sunday, 06-Nov-94 08:49:37 GMT', 784111777000],
    ['Sun Nov  6 08:49:37 1994', 784111777000],
  ];
  for (const [v, want] of cases) assert.equal(parseHttpDate(v), want, v);
  for (const bad of ['0', '-1', 'tomorrow', '2024-01-01T00:00:00Z', 'Sun, 06 Nov 1994 08:49:37 PST', ''])
    assert.ok(Number.isNaN(parseHttpDate(bad)), bad);
  assert.equal(parseHttpDate(formatHttpDate(T)), T);
});

test('edge/cache-control: directives, quoted values, invalid and repeated delta-seconds', () => {
  const cc = parseCacheControl('Max-Age=60, no-cache="set-cookie, x-a", s-maxage="30", private');
  assert.equal(cc.get('max-age'), '60');
  assert.equal(cc.get('no-cache'), 'set-cookie, x-a');
  assert.equal(deltaSeconds(cc, 's-maxage'), 30);
  assert.equal(cc.get('private'), true);
  assert.equal(deltaSeconds(parseCacheControl('max-age=abc'), 'max-age'), 0);
  assert.equal(deltaSeconds(parseCacheControl('max-age=60, max-age=10'), 'max-age'), 10);
  assert.equal(deltaSeconds(parseCacheControl(['max-age=99999999999']), 'max-age'), 2147483648);
});

test('edge/freshness: lifetime from s-maxage, max-age, Expires, heuristic, negative caching', () => {
  const cases: [number, Record<string, string>, number, string][] = [
    [200, { 'cache-control': 's-maxage=5, max-age=50' }, 5, 's-maxage'],
    [200, { 'cache-control': 'max-age=50', expires: d(9) }, 50, 'max-age'],
    [200, { date: d(0), expires: d(30) }, 30, 'expires'],
    [200, { date: d(0), expires: '0' }, 0, 'expires'],
    [200, { date: d(0), 'last-modified': d(-1000) }, 100, 'heuristic'],
    [200, { date: d(0), 'last-modified': d(-10_000_000) }, 86400, 'heuristic'],
    [201, { date: d(0), 'last-modified': d(-1000) }, 0, 'none'],
    [201, { 'cache-control': 'public', date: d(0), 'last-modified': d(-1000) }, 100, 'heuristic'],
    [404, {}, 10, 'negative'],
    [502, {}, 0, 'none'],
    [200, { 'cdn-cache-control': 'max-age=7', 'cache-control': 'max-age=100' }, 7, 'max-age'],
  ];
  for (const [status, h, secs, source] of cases)
    assert.deepEqual(freshnessLifetime(status, h, T, DEFAULT_FRESHNESS), { seconds: secs, source }, JSON.stringify(h));
});

test('edge/freshness: storability for a shared cache', () => {
  const get = { method: 'GET', headers: {} };
  const cases: [typeof get, number, Record<string, string>, boolean | string][] = [
    [get, 200, {}, true],
    [get, 200, { 'cache-control': 'no-store' }, 'no-store'],
    [get, 200, { 'cache-control': 'private' }, 'private'],
    [get, 200, { 'cache-control': 'private="x-a", max-age=5' }, true],
    [{ method: 'GET', headers: { 'cache-control': 'no-store' } }, 200, {}, 'request-no-store'],
    [{ method: 'POST', headers: {} }, 200, { 'cache-control': 'max-age=5' }, 'method'],
    [{ method: 'GET', headers: { authorization: 'x' } }, 200, { 'cache-control': 'max-age=5' }, 'authorization'],
    [{ method: 'GET', headers: { authorization: 'x' } }, 200, { 'cache-control': 's-maxage=5' }, true],
    [{ method: 'GET', headers: { authorization: 'x' } }, 200, { 'cache-control': 'must-revalidate' }, true],
    [get, 200, { vary: 'Accept, *' }, 'vary-star'],
    [get, 200, { 'set-cookie': 'a=b' }, 'set-cookie'],
    [get, 206, {}, 'status'],
    [get, 302, {}, 'status'],
    [get, 302, { 'cache-control': 'max-age=5' }, true],
    [get, 503, {}, 'status'],
    [get, 200, { 'cdn-cache-control': 'no-store', 'cache-control': 'max-age=9' }, 'no-store'],
  ];
  for (const [req, status, h, want] of cases) {
    const v = storability(req, status, h);
    assert.deepEqual(
      v,
      want === true ? { store: true } : { store: false, reason: want },
      `${status} ${JSON.stringify(h)}`,
    );
  }
});

test('edge/freshness: corrected initial age (RFC 9111 §4.2.3)', () => {
  // Date 5 s before receipt, Age 3, 2 s in flight → max(5, 3 + 2) = 5
  assert.equal(correctedInitialAge({ date: d(-5), age: '3' }, T - 2000, T), 5);
  // Age 10 dominates
  assert.equal(correctedInitialAge({ date: d(0), age: '10' }, T - 1000, T), 11);
  assert.equal(correctedInitialAge({ age: 'junk' }, T, T), 0);
});

function state(over: Partial<FreshnessState> = {}): FreshnessState {
  return {
    initialAge: 0,
    responseTime: T,
    lifetime: 10,
    swr: 0,
    sie: 0,
    noCache: false,
    mustRevalidate: false,
    invalidated: false,
    ...over,
  };
}

test('edge/freshness: reuse verdicts with request directives and RFC 5861', () => {
  const at = (s: number) => T + s * 1000;
  const none = new Map();
  const cases: [Partial<FreshnessState>, string, number, string][] = [
    [{}, '', 5, 'fresh'],
    [{}, '', 11, 'revalidate'],
    [{ noCache: true }, '', 1, 'revalidate'],
    [{ invalidated: true }, '', 1, 'revalidate'],
    [{}, 'no-cache', 1, 'revalidate'],
    [{}, 'max-age=3', 5, 'revalidate'],
    [{}, 'min-fresh=6', 5, 'revalidate'],
    [{}, 'max-stale=5', 14, 'stale-allowed'],
    [{}, 'max-stale', 1000, 'stale-allowed'],
    [{ mustRevalidate: true }, 'max-stale', 11, 'revalidate'],
    [{ swr: 30 }, '', 20, 'stale-while-revalidate'],
    [{ swr: 30 }, '', 50, 'revalidate'],
    [{ swr: 30, mustRevalidate: true }, '', 20, 'revalidate'],
  ];
  for (const [s, cc, t, want] of cases)
    assert.equal(
      reuseVerdict(state(s), cc ? parseCacheControl(cc) : none, at(t)),
      want,
      `${JSON.stringify(s)} ${cc} @${t}`,
    );
  assert.equal(staleIfErrorAllowed(state({ sie: 60 }), none, at(30)), true);
  assert.equal(staleIfErrorAllowed(state({ sie: 60 }), none, at(100)), false);
  assert.equal(staleIfErrorAllowed(state({ sie: 60, mustRevalidate: true }), none, at(30)), false);
  assert.equal(staleIfErrorAllowed(state(), parseCacheControl('stale-if-error=100'), at(30)), true);
});

test('edge/freshness: Pragma: no-cache counts only without Cache-Control', () => {
  assert.equal(requestDirectives({ pragma: 'no-cache' }).has('no-cache'), true);
  assert.equal(requestDirectives({ pragma: 'no-cache', 'cache-control': 'max-age=5' }).has('no-cache'), false);
});

test('edge/freshness: stored headers drop hop-by-hop and qualified fields; a 304 merges but keeps Content-Length', () => {
  const stored = storedHeaders({
    connection: 'x-hop',
    'x-hop': '1',
    'keep-alive': 't',
    age: '5',
    'cache-control': 'max-age=5, no-cache="x-secret"',
    'x-secret': 's',
    'content-length': '10',
    etag: '"a"',
  });
  assert.deepEqual(Object.keys(stored).sort(), ['cache-control', 'content-length', 'etag']);
  const merged = mergeNotModified(stored, { 'cache-control': 'max-age=99', 'content-length': '0', 'x-new': '1' });
  assert.equal(merged['cache-control'], 'max-age=99');
  assert.equal(merged['content-length'], '10');
  assert.equal(merged['x-new'], '1');
});

test("edge/freshness: client conditionals (weak If-None-Match, '*', If-Modified-Since)", () => {
  const h = { etag: '"x"', 'last-modified': d(-100) };
  assert.equal(clientNotModified({ 'if-none-match': 'W/"x"' }, h), true);
  assert.equal(clientNotModified({ 'if-none-match': '*' }, h), true);
  assert.equal(clientNotModified({ 'if-none-match': '"y"', 'if-modified-since': d(0) }, h), false);
  assert.equal(clientNotModified({ 'if-modified-since': d(0) }, h), true);
  assert.equal(clientNotModified({ 'if-modified-since': d(-200) }, h), false);
});
