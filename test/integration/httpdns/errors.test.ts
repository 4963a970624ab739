// Every HTTPDNS error answer: {error, message, code} — the stable ERR_ code of every multizone
// surface, a message, and the dialect's own short code that HTTPDNS clients read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { errorRegistry } from '../../../src/core/errors.ts';
import { DIALECT_CODES } from '../../../src/httpdns/errors.ts';
import { SECRET, startTestHttpdns } from './helpers.ts';

let t: Awaited<ReturnType<typeof startTestHttpdns>>;
let limited: Awaited<ReturnType<typeof startTestHttpdns>>;
let open: Awaited<ReturnType<typeof startTestHttpdns>>;
before(async () => {
  open = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
  t = await startTestHttpdns({ config: { accounts: { '100000': SECRET }, rateLimit: { perSecond: 0, burst: 1 } } });
  // the ManualClock never refills the bucket: the second request is limited
  limited = await startTestHttpdns({ config: { rateLimit: { perSecond: 1, burst: 1 } } });
});
after(async () => {
  await t.server.close();
  await limited.server.close();
  await open.server.close();
});

type Body = { error?: unknown; message?: unknown; code?: unknown };

async function ask(base: string, path: string, init: Parameters<typeof request>[1] = {}) {
  const r = await request(`${base}${path}`, init);
  return { status: r.statusCode, headers: r.headers, body: (await r.body.json()) as Body };
}

const doh = { method: 'POST', headers: { 'content-type': 'application/dns-message' } } as const;
const json = { method: 'POST', headers: { 'content-type': 'application/json' } } as const;

test('httpdns/errors: every error answer has error (ERR_HTTPDNS_*), message and the dialect code', async () => {
  const cases: [string, Parameters<typeof request>[1], number, string, string][] = [
    ['/d', {}, 400, 'MissingArgument', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/d?host=a..b', {}, 400, 'InvalidHost', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/d?host=a,b,c,d,e,f', {}, 400, 'TooManyHosts', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/d?host=api.shop.test&ip=1.2.3', {}, 400, 'InvalidIp', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/d?host=api.shop.test&query=5', {}, 400, 'InvalidQueryType', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/resolve', {}, 400, 'MissingArgument', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/resolve?name=a..b', {}, 400, 'InvalidName', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/resolve?name=api.shop.test&type=BOGUS', {}, 400, 'InvalidType', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/resolve?name=api.shop.test&edns_client_subnet=x', {}, 400, 'InvalidSubnet', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/dns-query?dns=!!', {}, 400, 'InvalidBase64', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/dns-query?dns=AAE', {}, 400, 'InvalidMessage', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/dns-query', { method: 'POST', body: 'x' }, 415, 'UnsupportedMediaType', 'ERR_HTTPDNS_UNSUPPORTED_MEDIA_TYPE'],
    ['/dns-query', { ...doh, body: Buffer.alloc(70_000) }, 413, 'PayloadTooLarge', 'ERR_HTTPDNS_TOO_LARGE'],
    [`/d?host=${'a'.repeat(9000)}`, {}, 414, 'UriTooLong', 'ERR_HTTPDNS_TOO_LARGE'],
    ['/nope', {}, 404, 'NotFound', 'ERR_HTTPDNS_NOT_FOUND'],
    ['/d?host=api.shop.test', { method: 'DELETE' }, 405, 'MethodNotAllowed', 'ERR_HTTPDNS_METHOD_NOT_ALLOWED'],
    ['/sign_d?host=api.shop.test', {}, 400, 'MissingArgument', 'ERR_HTTPDNS_BAD_REQUEST'],
    ['/sign_d?host=api.shop.test&t=1&s=x&account=9', {}, 403, 'AccountUnknown', 'ERR_HTTPDNS_SIGNATURE'],
    ['/sign_d?host=api.shop.test&t=1&s=x', {}, 403, 'InvalidSignature', 'ERR_HTTPDNS_SIGNATURE'],
    [`/sign_d?host=api.shop.test&t=1&s=${'0'.repeat(64)}`, {}, 403, 'SignatureExpired', 'ERR_HTTPDNS_SIGNATURE'],
    ['/report', { ...json, body: '{}' }, 403, 'SignatureRequired', 'ERR_HTTPDNS_SIGNATURE'],
  ];
  for (const [path, init, status, code, error] of cases) {
    const r = await ask(t.base, path, init);
    const what = `${init?.method ?? 'GET'} ${path.slice(0, 60)}`;
    assert.equal(r.status, status, what);
    assert.equal(r.body.code, code, what);
    assert.equal(r.body.error, error, what);
    assert.equal(typeof r.body.message, 'string', what);
    assert.ok((r.body.message as string).length > 0, what);
    assert.equal(r.headers['cache-control'], 'no-store', what);
  }
  // an unsigned server takes reports: malformed ones are bad requests
  for (const [body, code] of [
    ['not json', 'InvalidJson'],
    ['{"reports":3}', 'InvalidReport'],
  ] as const) {
    const r = await ask(open.base, '/report', { ...json, body });
    assert.deepEqual([r.status, r.body.code, r.body.error], [400, code, 'ERR_HTTPDNS_BAD_REQUEST']);
  }
});

test('httpdns/errors: 429 carries ERR_HTTPDNS_RATE_LIMITED beside TooManyRequests, and Retry-After', async () => {
  assert.equal((await ask(limited.base, '/d?host=api.shop.test')).status, 200); // the one token
  const r = await ask(limited.base, '/d?host=api.shop.test');
  assert.equal(r.status, 429);
  assert.equal(r.body.code, 'TooManyRequests');
  assert.equal(r.body.error, 'ERR_HTTPDNS_RATE_LIMITED');
  assert.equal(typeof r.body.message, 'string');
  assert.ok(Number(r.headers['retry-after']) >= 1);
});

test('httpdns/errors: every dialect code maps to a registered ERR_HTTPDNS_ code', () => {
  for (const [code, ctor] of Object.entries(DIALECT_CODES)) {
    assert.match(ctor.code, /^ERR_HTTPDNS_/, code);
    assert.ok(errorRegistry.has(ctor.code), code);
  }
});
