import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { createResolver } from './resolver.ts';

test('sdk: bad options are refused when the resolver is created', () => {
  const bad = [
    { servers: [] },
    { servers: ['ftp://x'] },
    { servers: ['http://a:1'], timeoutMs: 0 },
    { servers: ['http://a:1'], refreshFraction: 1 },
    { servers: ['http://a:1'], families: [5] },
    { servers: ['http://a:1'], clientIp: 'nope' },
    { servers: ['http://a:1'], account: 'x' },
    { servers: ['http://a:1'], signTtlSeconds: 100_000 },
  ];
  for (const o of bad)
    assert.throws(() => createResolver(o as never), { code: 'ERR_SDK_INVALID_OPTION' }, JSON.stringify(o));
});

test('sdk: an injected fetch is used, and IP literals need no lookup', async () => {
  const calls: string[] = [];
  const fetch = (async (url: string) => {
    calls.push(url);
    return new Response(JSON.stringify({ dns: [{ host: 'a.test', ips: ['192.0.2.1'], ipsv6: [], ttl: 10 }] }));
  }) as unknown as typeof globalThis.fetch;
  const r = createResolver({ servers: ['http://httpdns.test'], fetch, clock: new ManualClock(), reports: false });
  assert.deepEqual(await r.resolve('a.test'), ['192.0.2.1']);
  assert.equal(calls[0], 'http://httpdns.test/d?host=a.test&query=4');
  assert.deepEqual(await r.resolve('192.0.2.7'), ['192.0.2.7']);
  assert.equal(calls.length, 1);
  await r.close();
});

test('sdk: the answer cache keeps at most MAX_HOSTS hosts, the oldest stored going first', async () => {
  const { AnswerCache, MAX_HOSTS } = await import('./answer-cache.ts');
  const clock = new ManualClock();
  const refreshed: string[] = [];
  const cache = new AnswerCache(
    { clock, refreshFraction: 0.75, preResolve: new Set<string>() } as never,
    new Set(),
    (h) => refreshed.push(h),
  );
  for (let i = 0; i < MAX_HOSTS; i++) cache.store(`h${i}.test`, ['192.0.2.1'], [], 60, 'httpdns').usedSinceFetch = true;
  cache.store('h0.test', ['192.0.2.2'], [], 60, 'httpdns').usedSinceFetch = true; // stored again: the youngest now
  cache.store('new.test', ['192.0.2.3'], [], 60, 'httpdns').usedSinceFetch = true;
  assert.equal(cache.get('h0.test')?.ipv4[0], '192.0.2.2');
  assert.equal(cache.get('h1.test'), undefined, 'the oldest went when new.test came');
  assert.ok(cache.get('new.test'));
  // an evicted host's refresh timer went with it
  clock.advance(60_000);
  assert.equal(refreshed.length, MAX_HOSTS);
  assert.ok(!refreshed.includes('h1.test'));
  cache.close();
});
