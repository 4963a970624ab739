import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { RequestSigner } from './signer.ts';

const secret = Buffer.alloc(32, 3);
const req = (extra: Record<string, string> = {}, body: string | undefined = '{"a":1}') => ({
  method: 'POST',
  target: '/internal/accounts/verify?x=1',
  headers: { 'content-type': 'application/json', 'x-multizone-from': 'sh-a', ...extra },
  body,
});

function pair() {
  const clock = new ManualClock();
  const a = new RequestSigner({ secret, zone: 'sh-a', clock });
  const b = new RequestSigner({ secret, zone: 'bj-a', clock });
  return { clock, a, b };
}

test('trust/signer: a signed request verifies once, naming the zone', () => {
  const { a, b } = pair();
  const r = req();
  const signed = { ...r, headers: { ...r.headers, 'x-multizone-auth': a.sign(r) } };
  assert.deepEqual(b.check(signed), { zone: 'sh-a' });
  assert.equal(b.check(signed), 'replayed');
  assert.throws(() => b.verify(signed), { code: 'ERR_TRUST_BAD_SIGNATURE' });
});

test('trust/signer: any change to method, target, routing headers or body breaks the signature', () => {
  const { a, b } = pair();
  const r = req();
  const auth = a.sign(r);
  const cases: [string, Parameters<RequestSigner['check']>[0]][] = [
    ['method', { ...r, method: 'GET', headers: { ...r.headers, 'x-multizone-auth': auth } }],
    ['target', { ...r, target: '/internal/accounts/verify?x=2', headers: { ...r.headers, 'x-multizone-auth': auth } }],
    ['header', { ...r, headers: { ...r.headers, 'x-multizone-from': 'gz-a', 'x-multizone-auth': auth } }],
    ['added header', { ...r, headers: { ...r.headers, 'x-multizone-hop': '1', 'x-multizone-auth': auth } }],
    ['body', { ...r, body: '{"a":2}', headers: { ...r.headers, 'x-multizone-auth': auth } }],
    ['zone', { ...r, headers: { ...r.headers, 'x-multizone-auth': auth.replace('z=sh-a', 'z=gz-a') } }],
  ];
  for (const [what, c] of cases) assert.equal(b.check(c), 'signature', what);
  // a header outside x-multizone-* is not signed (proxies may add their own)
  assert.deepEqual(b.check({ ...r, headers: { ...r.headers, via: '1.1 x', 'x-multizone-auth': auth } }), {
    zone: 'sh-a',
  });
});

test('trust/signer: ±30 s of skew is accepted, more is expired; junk is malformed', () => {
  const { clock, a } = pair();
  const b = new RequestSigner({ secret, zone: 'bj-a', clock: new ManualClock(0, 1_700_000_000_000 + 30_000) });
  const r = req();
  assert.deepEqual(b.check({ ...r, headers: { ...r.headers, 'x-multizone-auth': a.sign(r) } }), { zone: 'sh-a' });
  const late = new RequestSigner({ secret, zone: 'bj-a', clock: new ManualClock(0, 1_700_000_000_000 + 30_001) });
  assert.equal(late.check({ ...r, headers: { ...r.headers, 'x-multizone-auth': a.sign(r) } }), 'expired');
  const early = new RequestSigner({ secret, zone: 'bj-a', clock: new ManualClock(0, 1_700_000_000_000 - 30_001) });
  assert.equal(early.check({ ...r, headers: { ...r.headers, 'x-multizone-auth': a.sign(r) } }), 'expired');
  for (const junk of ['', 'v1', `${a.sign(r)} `, 'v2 z=sh-a t=1 n=00 s=00', a.sign(r).replace(/s=[0-9a-f]+/, 's=zz')])
    assert.equal(b.check({ ...r, headers: { ...r.headers, 'x-multizone-auth': junk } }), 'malformed', junk);
  assert.equal(b.check(r), 'missing');
  assert.throws(() => new RequestSigner({ secret: Buffer.alloc(16), zone: 'a', clock }), {
    code: 'ERR_TRUST_BAD_SECRET',
  });
});

test('trust/signer: the nonce cache forgets nonces once their window passed, and is bounded', () => {
  const clock = new ManualClock();
  const a = new RequestSigner({ secret, zone: 'sh-a', clock });
  const b = new RequestSigner({ secret, zone: 'bj-a', clock, maxNonces: 3 });
  const signed = () => {
    const r = req();
    return { ...r, headers: { ...r.headers, 'x-multizone-auth': a.sign(r) } };
  };
  for (let i = 0; i < 3; i++) assert.deepEqual(b.check(signed()), { zone: 'sh-a' });
  assert.equal(b.check(signed()), 'busy', 'full: refused, never a replay let through');
  clock.advance(30_001);
  assert.deepEqual(b.check(signed()), { zone: 'sh-a' });
  assert.equal(b.nonces, 1);
  // a signer made with as() shares the cache: a replay to another zone of the process is caught
  const s = signed();
  assert.deepEqual(b.check(s), { zone: 'sh-a' });
  assert.equal(b.as('gz-a').check(s), 'replayed');
});

test('trust/signer: the signature is HMAC-SHA256 of the documented text (names lowered and sorted, arrays joined)', () => {
  const clock = new ManualClock();
  const a = new RequestSigner({ secret, zone: 'sh-a', clock, nonce: () => '0'.repeat(32) });
  const body = '{"a":1}';
  const headers = {
    'X-Multizone-Hop': '1',
    'x-multizone-epoch': 7,
    accept: 'x',
    'x-multizone-from': ['sh-a', 'bj-a'],
    'x-multizone-none': undefined,
    'x-multizone-auth': 'ignored',
  };
  const auth = a.sign({ method: 'post', target: '/p?q=1', headers, body });
  const t = String(Math.floor(clock.wallTime()));
  const text =
    `MZ-AUTH-1\nPOST\n/p?q=1\nsh-a\n${t}\n${'0'.repeat(32)}\n` +
    'x-multizone-epoch:7\nx-multizone-from:sh-a, bj-a\nx-multizone-hop:1\n' +
    createHash('sha256').update(body).digest('hex');
  assert.equal(
    auth,
    `v1 z=sh-a t=${t} n=${'0'.repeat(32)} s=${createHmac('sha256', secret).update(text).digest('hex')}`,
  );
});
