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
