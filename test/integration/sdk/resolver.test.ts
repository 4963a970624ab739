import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createNodeResolver, createResolver, type Resolver, type ResolverOptions } from '../../../src/sdk/index.ts';
import { SECRET, startTestHttpdns } from '../httpdns/helpers.ts';
import { type FaultServer, startFaultServer } from './fault-server.ts';

let open: Awaited<ReturnType<typeof startTestHttpdns>>;
let signed: Awaited<ReturnType<typeof startTestHttpdns>>;
const faults: FaultServer[] = [];
const resolvers: Resolver[] = [];
const noLimit = { rateLimit: { perSecond: 0, burst: 1 } };

before(async () => {
  open = await startTestHttpdns({ latency: true, config: noLimit });
  signed = await startTestHttpdns({ config: { ...noLimit, accounts: { acct: SECRET } } });
});
after(async () => {
  for (const r of resolvers) await r.close();
  for (const f of faults) await f.close();
  await open.server.close();
  await signed.server.close();
});

async function fault(mode: FaultServer['mode'] = 'ok', upstream = open.base): Promise<FaultServer> {
  const f = await startFaultServer(upstream, mode);
  faults.push(f);
  return f;
}

function resolver(o: Partial<ResolverOptions> & Pick<ResolverOptions, 'servers'>): Resolver {
  const r = createResolver({ clock: open.clock, reports: false, ...o });
  resolvers.push(r);
  return r;
}

/** Lets pending I/O run: bounded, so a missing event fails the test instead of hanging it. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('sdk: resolves through HTTPDNS, ranked as steering ordered, and caches for the TTL', async () => {
  const f = await fault();
  const r = resolver({ servers: [f.url], clientIp: '1.2.4.8' });
  const ips = await r.resolve('api.shop.test');
  assert.equal(ips[0], '127.0.3.1');
  assert.equal(ips.length, 2);
  assert.deepEqual(await r.resolve('API.shop.test.'), ips);
  assert.equal(f.hits.get('/d'), 1);
  assert.equal(r.stats().cacheHits, 1);
  open.clock.advance(61_000);
  const again = await r.lookup('api.shop.test');
  assert.equal(again.source, 'httpdns');
  assert.equal(f.hits.get('/d'), 2);
  assert.equal(f.queries[0]!.get('ip'), '1.2.4.8');
  assert.equal(f.queries[0]!.get('query'), '4');
});

test('sdk: hosts asked together share /d calls of at most 5 hosts', async () => {
  const f = await fault();
  const r = resolver({
    servers: [f.url],
    systemLookup: async () => [{ address: '10.0.0.1', family: 4 }],
    hijackCheck: false,
  });
  const hosts = [
    'api.shop.test',
    'static.shop.test',
    'a.b.shop.test',
    'x1.shop.test',
    'x2.shop.test',
    'x3.shop.test',
    'x4.shop.test',
  ];
  const all = await r.resolveAll(hosts);
  assert.equal(f.hits.get('/d'), 2);
  assert.deepEqual(
    f.queries.map((q) => q.get('host')!.split(',').length),
    [5, 2],
  );
  assert.equal(all.get('api.shop.test')!.length, 2);
  // names HTTPDNS has no address for fall back to the system resolver
  assert.deepEqual(all.get('x4.shop.test'), ['10.0.0.1']);
});

test('sdk: refreshes at 75 % of the TTL in the background; serves stale only when asked to', async () => {
  const f = await fault();
  const clock = open.clock;
  const r = resolver({ servers: [f.url], serveStale: true });
  await r.resolve('api.shop.test'); // ttl 60
  clock.advance(44_000);
  assert.equal(f.hits.get('/d'), 1);
  clock.advance(1_000); // 45 s = 75 %: the refresh timer fires for a used host
  await until(() => f.hits.get('/d') === 2, 'the 75 % refresh');
  assert.equal(r.stats().refreshes, 1);
  // now HTTPDNS stops answering; after expiry the stale answer is served at once
  f.mode = '500';
  await new Promise((res) => setTimeout(res, 20));
  clock.advance(61_000);
  const stale = await r.lookup('api.shop.test');
  assert.equal(stale.source, 'stale');
  assert.equal(stale.ipv4.length, 2);
  assert.ok(r.stats().staleServed >= 1);

  // without serveStale, an expired answer is not used: with HTTPDNS down and no system resolver it fails
  const f2 = await fault();
  const strict = resolver({ servers: [f2.url] });
  await strict.resolve('api.shop.test');
  f2.mode = '500';
  clock.advance(61_000);
  await assert.rejects(strict.resolve('api.shop.test'), { code: 'ERR_SDK_UNRESOLVED' });
});

test('sdk: a failing server is skipped with exponential backoff, then tried again', async () => {
  const bad = await fault('500');
  const good = await fault();
  const r = resolver({ servers: [bad.url, good.url], backoffMs: 1000 });
  assert.equal((await r.resolve('api.shop.test')).length, 2);
  assert.equal(bad.hits.get('/d'), 1);
  assert.equal(r.stats().serverErrors, 1);
  await r.resolve('static.shop.test'); // the good server is now preferred
  assert.equal(bad.hits.get('/d'), 1);
  // the good one fails too: the bad one is still in backoff, so the good one alone is tried
  good.mode = '500';
  await assert.rejects(r.resolve('a.b.shop.test'), { code: 'ERR_SDK_UNRESOLVED' });
  assert.equal(bad.hits.get('/d'), 1);
  open.clock.advance(1_001);
  bad.mode = 'ok';
  assert.equal((await r.resolve('a.b.shop.test')).length, 2);
  assert.equal(bad.hits.get('/d'), 2);
});

test('sdk: a server that times out is abandoned for the next one (injected clock)', async () => {
  const slow = await fault('timeout');
  const good = await fault();
  const r = resolver({ servers: [slow.url, good.url], timeoutMs: 1500 });
  const p = r.resolve('api.shop.test');
  await until(() => slow.hits.get('/d') === 1, 'the first request');
  await open.clock.advanceAsync(1500, 100);
  assert.equal((await p).length, 2);
  assert.equal(good.hits.get('/d'), 1);
});

test('sdk: wrong answers (bad IPs, not JSON, missing host) count as server failures', async () => {
  for (const mode of ['wrong-ips', 'garbage', 'missing-host'] as const) {
    const bad = await fault(mode);
    const good = await fault();
    const errors: unknown[] = [];
    const r = resolver({ servers: [bad.url, good.url] });
    r.on('server-error', (e) => errors.push((e.error as { code: string }).code));
    const ips = await r.resolve('api.shop.test');
    assert.ok(
      ips.every((ip) => ip.startsWith('127.0.')),
      mode,
    );
    assert.deepEqual(errors, ['ERR_SDK_BAD_ANSWER'], mode);
  }
});

test('sdk: falls back to the system resolver when HTTPDNS is unreachable or too slow', async () => {
  const events: string[] = [];
  const lookups: string[] = [];
  const systemLookup = async (h: string) => {
    lookups.push(h);
    return [{ address: '192.0.2.10', family: 4 as const }];
  };
  const down = resolver({ servers: ['http://127.0.0.1:1'], systemLookup, hijackCheck: false });
  down.on('fallback', (e) => events.push(e.host));
  assert.deepEqual(await down.resolve('api.shop.test'), ['192.0.2.10']);
  assert.deepEqual(events, ['api.shop.test']);
  assert.equal(down.stats().fallbacks, 1);
  // cached for the fallback TTL (30 s)
  await down.resolve('api.shop.test');
  assert.equal(lookups.length, 1);

  const slow = await fault('timeout');
  const r = resolver({ servers: [slow.url], systemLookup, timeoutMs: 1000, totalTimeoutMs: 2000, hijackCheck: false });
  const p = r.resolve('static.shop.test');
  await until(() => slow.hits.get('/d') === 1, 'the request');
  await open.clock.advanceAsync(1000, 100);
  assert.deepEqual(await p, ['192.0.2.10']);

  const none = resolver({ servers: ['http://127.0.0.1:1'] });
  await assert.rejects(none.resolve('api.shop.test'), { code: 'ERR_SDK_UNRESOLVED' });
});

test('sdk: with a secret, requests go to /sign_d and the server accepts them', async () => {
  const f = await fault('ok', signed.base);
  const r = resolver({ servers: [f.url], account: 'acct', secret: SECRET, clientIp: '202.96.128.86' });
  assert.equal((await r.resolve('api.shop.test'))[0], '127.0.4.1');
  assert.equal(f.hits.get('/sign_d'), 1);
  assert.equal(f.hits.get('/d'), undefined);
  const q = f.queries[0]!;
  assert.match(q.get('s')!, /^[0-9a-f]{64}$/);
  assert.equal(Number(q.get('t')), Math.floor(open.clock.wallTime() / 1000) + 600);
  const wrong = resolver({ servers: [f.url], account: 'acct', secret: 'not-the-secret-0123456789' });
  await assert.rejects(wrong.resolve('static.shop.test'), { code: 'ERR_SDK_UNRESOLVED' });
});

test('sdk: IPv4 and IPv6 together', async () => {
  const r = resolver({ servers: [open.base], families: [4, 6], clientIp: '1.2.4.8' });
  const a = await r.lookup('api.shop.test');
  assert.equal(a.ipv4[0], '127.0.3.1');
  assert.deepEqual(a.ipv6, ['2001:db8::3']);
  assert.deepEqual(await r.resolve('api.shop.test'), [...a.ipv4, '2001:db8::3']);
});

test('sdk: a system answer that is none of our endpoints is reported as a hijack', async () => {
  let system = ['6.6.6.6'];
  const r = resolver({
    servers: [open.base],
    clientIp: '1.2.4.8',
    systemLookup: async () => system.map((address) => ({ address, family: 4 as const })),
  });
  const seen: { host: string; system: string[]; httpdns: string[] }[] = [];
  r.on('hijack', (e) => seen.push(e));
  await r.resolve('api.shop.test');
  await until(() => seen.length === 1, 'the hijack event');
  assert.deepEqual(seen[0]!.system, ['6.6.6.6']);
  assert.equal(seen[0]!.httpdns[0], '127.0.3.1');
  assert.equal(r.stats().hijacks, 1);
  // another of our zones (steered differently) is not a hijack
  system = ['127.0.3.1'];
  await r.resolve('static.shop.test');
  await new Promise((res) => setTimeout(res, 30));
  assert.equal(r.stats().hijacks, 1);
});

test('sdk: speed reports are batched to /report and steer the subnet to its fastest zone', async () => {
  const f = await fault();
  const r = createResolver({ servers: [f.url], clock: open.clock, reports: { intervalMs: 10_000, maxBatch: 100 } });
  resolvers.push(r);
  // geo sends 127.0.0.1 (no location) to sh-a/sh-b first
  const before = await r.resolve('api.shop.test');
  assert.ok(['127.0.1.1', '127.0.2.1'].includes(before[0]!));
  for (let i = 0; i < 6; i++) {
    r.report('127.0.1.1', true, 90, 'api.shop.test');
    r.report('127.0.2.1', true, 95, 'api.shop.test');
    r.report('127.0.4.1', true, 8, 'api.shop.test');
  }
  assert.equal(f.hits.get('/report'), undefined); // batched, not sent per sample
  open.clock.advance(10_000); // the report interval
  await until(() => f.hits.get('/report') === 1, 'the report');
  await until(() => open.aggregator.samples >= 18, 'the samples to land');
  open.clock.advance(61_000);
  const afterReports = await r.lookup('api.shop.test');
  assert.equal(afterReports.ipv4.includes('127.0.4.1'), true);
  // the server now answers gz-a first; the local ranking agrees (it measured gz-a fastest)
  assert.equal(afterReports.ipv4[0], '127.0.4.1');
});

test('sdk: speed reports are signed when a secret is set', async () => {
  const r = createResolver({ servers: [signed.base], clock: open.clock, account: 'acct', secret: SECRET });
  resolvers.push(r);
  r.report('127.0.4.1', true, 5);
  await r.flushReports();
  assert.equal(signed.aggregator.samples, 1);
});

test('sdk: a failed background refresh keeps the HTTPDNS answer rather than switching to the system one', async () => {
  const f = await fault();
  const r = resolver({
    servers: [f.url],
    clientIp: '1.2.4.8',
    systemLookup: async () => [{ address: '6.6.6.6', family: 4 }],
    hijackCheck: false,
  });
  assert.equal((await r.resolve('api.shop.test'))[0], '127.0.3.1');
  f.mode = '500';
  open.clock.advance(45_000); // the 75 % refresh fails
  await until(() => f.hits.get('/d') === 2, 'the refresh');
  await new Promise((res) => setTimeout(res, 20));
  assert.equal((await r.resolve('api.shop.test'))[0], '127.0.3.1');
  assert.equal(r.stats().fallbacks, 0);
  open.clock.advance(16_000); // expired: now a real lookup, which falls back
  assert.deepEqual(await r.resolve('api.shop.test'), ['6.6.6.6']);
  assert.equal(r.stats().fallbacks, 1);
});

test('sdk: the Node resolver falls back to dns.promises.lookup (here: /etc/hosts for localhost)', async () => {
  const r = createNodeResolver({
    servers: ['http://127.0.0.1:1'],
    clock: open.clock,
    reports: false,
    hijackCheck: false,
  });
  resolvers.push(r);
  const a = await r.lookup('localhost');
  assert.equal(a.source, 'system');
  assert.ok([...a.ipv4, ...a.ipv6].some((ip) => ip === '127.0.0.1' || ip === '::1'));
});
