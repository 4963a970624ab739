import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { hmacHex } from '../../../src/httpdns/index.ts';
import { SECRET, startTestHttpdns } from './helpers.ts';

let t: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  t = await startTestHttpdns({ config: { accounts: { '100000': SECRET }, rateLimit: { perSecond: 0, burst: 1 } } });
});
after(() => t.server.close());

async function get(path: string, headers: Record<string, string> = {}) {
  const r = await request(`${t.base}${path}`, { headers });
  const text = await r.body.text();
  return { status: r.statusCode, headers: r.headers, body: JSON.parse(text) };
}

test('httpdns/d: a Beijing client gets bj-a first, Guangdong gz-a, the US the default zones', async () => {
  const bj = await get('/d?host=api.shop.test&ip=1.2.4.8');
  assert.equal(bj.status, 200);
  assert.equal(bj.body.client_ip, '1.2.4.8');
  const e = bj.body.dns[0];
  assert.equal(e.host, 'api.shop.test');
  assert.equal(e.client_ip, '1.2.4.8');
  assert.equal(e.ips[0], '127.0.3.1');
  assert.equal(e.ips.length, 2);
  assert.deepEqual(e.ipsv6, []);
  assert.equal(e.ttl, 60);
  assert.equal(e.origin_ttl, 60);
  assert.equal(bj.headers['cache-control'], 'private, max-age=60');
  const gz = await get('/d?host=api.shop.test&ip=202.96.128.86');
  assert.equal(gz.body.dns[0].ips[0], '127.0.4.1');
  const us = await get('/d?host=api.shop.test&ip=8.8.8.8');
  assert.ok(['127.0.1.1', '127.0.2.1'].includes(us.body.dns[0].ips[0]));
});

test('httpdns/d: without ip= the socket address is the client', async () => {
  const r = await get('/d?host=api.shop.test');
  assert.equal(r.body.client_ip, '127.0.0.1');
  assert.equal(r.body.dns[0].client_ip, '127.0.0.1');
});

test('httpdns/d: query=4,6 answers both families; query=6 only IPv6', async () => {
  const both = await get('/d?host=api.shop.test&ip=1.2.4.8&query=4,6');
  assert.equal(both.body.dns[0].ips[0], '127.0.3.1');
  assert.deepEqual(both.body.dns[0].ipsv6, ['2001:db8::3']);
  const six = await get('/d?host=api.shop.test&ip=1.2.4.8&query=6');
  assert.deepEqual(six.body.dns[0].ips, []);
  assert.deepEqual(six.body.dns[0].ipsv6, ['2001:db8::3']);
  const bad = await get('/d?host=api.shop.test&query=5');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'InvalidQueryType');
});

test('httpdns/d: up to 5 hosts a call; 6 is a 400 TooManyHosts; max-age is the smallest ttl', async () => {
  const five = await get('/d?host=api.shop.test,static.shop.test,API.shop.test,nope.shop.test,example.com&ip=1.2.4.8');
  assert.equal(five.status, 200);
  assert.deepEqual(
    five.body.dns.map((d: { host: string }) => d.host),
    ['api.shop.test', 'static.shop.test', 'API.shop.test', 'nope.shop.test', 'example.com'],
  );
  assert.equal(five.body.dns[1].ttl, 300);
  assert.equal(five.body.dns[2].ips[0], '127.0.3.1');
  assert.deepEqual(five.body.dns[3].ips, []);
  assert.deepEqual(five.body.dns[4].ips, []);
  assert.equal(five.headers['cache-control'], 'private, max-age=60');
  const six = await get('/d?host=a.shop.test,b.shop.test,c.shop.test,d.shop.test,e.shop.test,f.shop.test');
  assert.equal(six.status, 400);
  assert.equal(six.body.code, 'TooManyHosts');
  assert.equal(six.headers['cache-control'], 'no-store');
});

test('httpdns/d: bad params are 400 with a JSON code', async () => {
  for (const [path, code] of [
    ['/d', 'MissingArgument'],
    ['/d?host=', 'MissingArgument'],
    ['/d?host=bad%20host', 'InvalidHost'],
    ['/d?host=api.shop.test&ip=999.1.1.1', 'InvalidIp'],
    ['/d?host=api.shop.test&ip=1.2.3.0/24', 'InvalidIp'],
  ] as const) {
    const r = await get(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.body.code, code, path);
    assert.equal(typeof r.body.message, 'string');
  }
});

test('httpdns/sign_d: a good signature answers; expired, wrong and too-far ones are 403 with their code', async () => {
  const now = Math.floor(t.clock.wallTime() / 1000);
  const signed = (host: string, exp: number, secret = SECRET) =>
    `/sign_d?host=${host}&t=${exp}&s=${hmacHex(secret, `${host}-${exp}`)}&ip=1.2.4.8`;
  const ok = await get(signed('api.shop.test', now + 600));
  assert.equal(ok.status, 200);
  assert.equal(ok.body.dns[0].ips[0], '127.0.3.1');
  const batch = await get(signed('api.shop.test,static.shop.test', now + 600));
  assert.equal(batch.status, 200);
  assert.equal(batch.body.dns.length, 2);
  const expired = await get(signed('api.shop.test', now - 1));
  assert.equal(expired.status, 403);
  assert.equal(expired.body.code, 'SignatureExpired');
  const wrong = await get(signed('api.shop.test', now + 600, 'another-secret-0123456789'));
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.code, 'SignatureMismatch');
  const other = await get(
    `/sign_d?host=static.shop.test&t=${now + 600}&s=${hmacHex(SECRET, `api.shop.test-${now + 600}`)}`,
  );
  assert.equal(other.body.code, 'SignatureMismatch');
  const far = await get(signed('api.shop.test', now + 86_400 + 60));
  assert.equal(far.status, 403);
  assert.equal(far.body.code, 'SignatureTooFar');
  const unknown = await get(`${signed('api.shop.test', now + 600)}&account=999`);
  assert.equal(unknown.body.code, 'AccountUnknown');
  const malformed = await get(`/sign_d?host=api.shop.test&t=${now + 600}&s=zz`);
  assert.equal(malformed.status, 403);
  assert.equal(malformed.body.code, 'InvalidSignature');
  // the same signature expires when the (injected) wall clock passes t
  const exp = now + 10;
  const path = signed('api.shop.test', exp);
  assert.equal((await get(path)).status, 200);
  t.clock.advance(11_000);
  assert.equal((await get(path)).body.code, 'SignatureExpired');
});

test('httpdns: unknown paths are 404 and wrong methods 405, both JSON', async () => {
  const r = await get('/nope');
  assert.equal(r.status, 404);
  assert.equal(r.body.code, 'NotFound');
  const p = await request(`${t.base}/d?host=api.shop.test`, { method: 'POST', body: 'x' });
  assert.equal(p.statusCode, 405);
  assert.equal(((await p.body.json()) as { code: string }).code, 'MethodNotAllowed');
});

test('httpdns: metrics count requests by route and status', async () => {
  await get('/d?host=api.shop.test');
  const text = await t.metrics.metrics();
  assert.match(text, /mz_httpdns_requests_total\{zone="sh-a",route="d",status="200"\} \d+/);
  assert.match(text, /mz_httpdns_signature_rejected_total\{zone="sh-a",code="SignatureExpired"\} [1-9]/);
});

test('httpdns/d: the body is canonical JSON with an exact content-length, for several hosts, v4+v6 and odd but valid names', async () => {
  for (const q of [
    '/d?host=api.shop.test,static.shop.test,nope.shop.test&ip=1.2.4.8&query=4,6',
    '/d?host=API.Shop.Test.&ip=2001:db8::1',
    '/d?host=_x-y.example.com',
  ]) {
    const r = await request(`${t.base}${q}`);
    const raw = Buffer.from(await r.body.arrayBuffer());
    assert.equal(Number(r.headers['content-length']), raw.length, q);
    const text = raw.toString('utf8');
    assert.equal(JSON.stringify(JSON.parse(text)), text, q);
    const body = JSON.parse(text) as { dns: { host: string }[] };
    assert.deepEqual(
      Object.keys(body.dns[0]!),
      ['host', 'client_ip', 'ips', 'ipsv6', 'ttl', 'origin_ttl'],
      'the field order of the dialect',
    );
  }
});
