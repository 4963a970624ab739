import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startTestHttpdns } from './helpers.ts';

let trusted: Awaited<ReturnType<typeof startTestHttpdns>>;
let untrusted: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  trusted = await startTestHttpdns({
    config: { trustedProxies: ['127.0.0.0/8', '10.0.0.0/8'], rateLimit: { perSecond: 1, burst: 3 } },
  });
  untrusted = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
});
after(async () => {
  await trusted.server.close();
  await untrusted.server.close();
});

async function clientIp(base: string, xff?: string): Promise<string> {
  const r = await request(`${base}/d?host=api.shop.test`, { headers: xff ? { 'x-forwarded-for': xff } : {} });
  return ((await r.body.json()) as { client_ip: string }).client_ip;
}

test('httpdns/xff: X-Forwarded-For is ignored from a socket that is not a trusted proxy', async () => {
  assert.equal(await clientIp(untrusted.base, '1.2.4.8'), '127.0.0.1');
});

test('httpdns/xff: from a trusted proxy, the right-most untrusted hop is the client', async () => {
  assert.equal(await clientIp(trusted.base, '1.2.4.8'), '1.2.4.8');
  // the client forged the left-most entry; the proxies (10.x) appended the real one
  assert.equal(await clientIp(trusted.base, '6.6.6.6, 202.96.128.86, 10.1.2.3'), '202.96.128.86');
  assert.equal(await clientIp(trusted.base, 'garbage, 10.1.2.3'), '10.1.2.3');
  trusted.clock.advance(10_000); // refill the buckets these calls used
});

test('httpdns/rate-limit: a client over its bucket gets 429 with Retry-After, and recovers as tokens refill', async () => {
  const hit = (xff: string) =>
    request(`${trusted.base}/d?host=api.shop.test`, { headers: { 'x-forwarded-for': xff } }).then(async (r) => ({
      status: r.statusCode,
      retry: r.headers['retry-after'],
      body: (await r.body.json()) as { code?: string },
    }));
  for (let i = 0; i < 3; i++) assert.equal((await hit('9.9.9.9')).status, 200);
  const limited = await hit('9.9.9.9');
  assert.equal(limited.status, 429);
  assert.equal(limited.retry, '1');
  assert.equal(limited.body.code, 'TooManyRequests');
  // another client has its own bucket
  assert.equal((await hit('9.9.9.10')).status, 200);
  trusted.clock.advance(1000);
  assert.equal((await hit('9.9.9.9')).status, 200);
  assert.equal((await hit('9.9.9.9')).status, 429);
  // IPv6 clients share a bucket per /64 (they can rotate through it)
  for (let i = 0; i < 3; i++) assert.equal((await hit(`2001:db8:1:2::${i + 1}`)).status, 200);
  assert.equal((await hit('2001:db8:1:2::ffff')).status, 429);
  assert.equal((await hit('2001:db8:1:3::1')).status, 200);
  const text = await trusted.metrics.metrics();
  assert.match(text, /mz_httpdns_rate_limited_total\{zone="sh-a"\} 3/);
});
