import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { hmacHex } from '../../../src/httpdns/index.ts';
import { SECRET, startTestHttpdns } from './helpers.ts';

let t: Awaited<ReturnType<typeof startTestHttpdns>>;
let signed: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  const config = { trustedProxies: ['127.0.0.1/32'], rateLimit: { perSecond: 0, burst: 1 } };
  t = await startTestHttpdns({ latency: true, config });
  signed = await startTestHttpdns({ latency: true, config: { ...config, accounts: { acct: SECRET } } });
});
after(async () => {
  await t.server.close();
  await signed.server.close();
});

async function report(base: string, from: string, reports: unknown[], qs = '', bodyText?: string) {
  const r = await request(`${base}/report${qs}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    body: bodyText ?? JSON.stringify({ reports }),
  });
  return {
    status: r.statusCode,
    body: (await r.body.json()) as { accepted?: number; rejected?: number; code?: string },
  };
}

async function first(base: string, ip: string): Promise<{ ip: string; dns: { ips: string[] }[] }> {
  const r = await request(`${base}/d?host=api.shop.test&ip=${ip}`);
  return (await r.body.json()) as { ip: string; dns: { ips: string[] }[] };
}

test('httpdns/report: enough reports from a subnet move its clients to the zone it reaches fastest', async () => {
  // Beijing geo says bj-a (127.0.3.1); its clients measure gz-a faster
  assert.equal((await first(t.base, '1.2.4.8')).dns[0]!.ips[0], '127.0.3.1');
  const samples = [
    { zone: 'bj-a', rtt_ms: 80, ok: true },
    { ip: '127.0.4.1', rtt_ms: 12 }, // gz-a named by address
  ];
  // too few reports: geo still decides
  const r1 = await report(t.base, '1.2.4.77', [...samples, ...samples]);
  assert.deepEqual(r1.body, { accepted: 4, rejected: 0 });
  assert.equal((await first(t.base, '1.2.4.8')).dns[0]!.ips[0], '127.0.3.1');
  for (let i = 0; i < 3; i++) await report(t.base, '1.2.4.77', samples);
  const after5 = await first(t.base, '1.2.4.8');
  assert.equal(after5.dns[0]!.ips[0], '127.0.4.1');
  assert.equal(after5.dns[0]!.ips[1], '127.0.3.1');
  // another subnet on a different carrier is not affected
  assert.equal((await first(t.base, '202.96.128.86')).dns[0]!.ips[0], '127.0.4.1');
  assert.equal((await first(t.base, '61.135.169.121')).dns[0]!.ips[0], '127.0.3.1');
  // reports decay: after many half-lives the subnet falls back to geo
  t.clock.advance(10 * 600_000);
  assert.equal((await first(t.base, '1.2.4.8')).dns[0]!.ips[0], '127.0.3.1');
});

test('httpdns/report: failures count as slow; bad samples are rejected, not fatal', async () => {
  const r = await report(t.base, '5.6.7.8', [
    { zone: 'nowhere', rtt_ms: 5 },
    { zone: 'bj-a', rtt_ms: -1 },
    { zone: 'bj-a', rtt_ms: 'fast' },
    { ip: '10.9.9.9', rtt_ms: 5 },
    null,
    { zone: 'gz-a', rtt_ms: 5, ok: false },
  ]);
  assert.deepEqual(r.body, { accepted: 1, rejected: 5 });
  const bad = await report(t.base, '5.6.7.8', [], '', JSON.stringify({ reports: 'no' }));
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'InvalidReport');
  const tooMany = await report(t.base, '5.6.7.8', new Array(201).fill({ zone: 'bj-a', rtt_ms: 1 }));
  assert.equal(tooMany.status, 400);
  const wrongType = await request(`${t.base}/report`, { method: 'POST', body: '{}' });
  assert.equal(wrongType.statusCode, 415);
  await wrongType.body.dump();
});

test('httpdns/report: with accounts configured, reports must be signed over the body', async () => {
  const body = JSON.stringify({ reports: [{ zone: 'gz-a', rtt_ms: 9 }] });
  const unsignedR = await report(signed.base, '1.2.4.8', [], '', body);
  assert.equal(unsignedR.status, 403);
  assert.equal(unsignedR.body.code, 'SignatureRequired');
  const exp = Math.floor(signed.clock.wallTime() / 1000) + 300;
  const good = await report(
    signed.base,
    '1.2.4.8',
    [],
    `?account=acct&t=${exp}&s=${hmacHex(SECRET, `${body}-${exp}`)}`,
    body,
  );
  assert.equal(good.status, 200);
  assert.equal(good.body.accepted, 1);
  const tampered = body.replace('9', '1');
  const bad = await report(signed.base, '1.2.4.8', [], `?t=${exp}&s=${hmacHex(SECRET, `${body}-${exp}`)}`, tampered);
  assert.equal(bad.status, 403);
  assert.equal(bad.body.code, 'SignatureMismatch');
});
