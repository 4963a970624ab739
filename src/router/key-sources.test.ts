import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSource, jwtClaim, RequestView } from './key-sources.ts';

const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

const view = (headers: Record<string, string>, path = '/', query = '') => new RequestView(headers, path, query);

test('router: key sources read header, cookie, query, path segment and JWT claim', () => {
  const r = view(
    { 'x-user-id': 'u1', cookie: 'a=1; uid=u2; b=3', authorization: `Bearer ${jwt({ sub: 'u5', n: 7 })}` },
    '/api/profiles/u4',
    'uid=u3&x=1',
  );
  assert.equal(compileSource({ header: 'X-User-Id' })(r), 'u1');
  assert.equal(compileSource({ cookie: 'uid' })(r), 'u2');
  assert.equal(compileSource({ query: 'uid' })(r), 'u3');
  assert.equal(compileSource({ path: 2 })(r), 'u4');
  assert.equal(compileSource({ path: 2, prefix: '/api/orders' })(r), undefined);
  assert.equal(compileSource({ jwt: 'sub', from: 'authorization' })(r), 'u5');
  assert.equal(compileSource({ jwt: 'n', from: 'authorization' })(r), '7');
  assert.equal(compileSource({ jwt: 'sub', from: 'cookie' })(view({ cookie: `jwt=${jwt({ sub: 'c1' })}` })), 'c1');
});

test('router: absent or empty values give no key', () => {
  const r = view({ 'x-user-id': '' });
  assert.equal(compileSource({ header: 'x-user-id' })(r), undefined);
  assert.equal(compileSource({ cookie: 'uid' })(r), undefined);
  assert.equal(compileSource({ query: 'uid' })(r), undefined);
  assert.equal(compileSource({ path: 5 })(r), undefined);
  assert.equal(compileSource({ jwt: 'sub', from: 'authorization' })(r), undefined);
});

test('router: hostile JWTs and path encodings are refused with ERR_ROUTER_BAD_KEY', () => {
  for (const bad of [
    'x',
    'a.b',
    'a.!!!.c',
    `a.${Buffer.from('not json').toString('base64url')}.c`,
    `a.${Buffer.from('[1]').toString('base64url')}.c`,
  ])
    assert.throws(() => jwtClaim(bad, 'sub'), { code: 'ERR_ROUTER_BAD_KEY' });
  assert.throws(() => jwtClaim(jwt({ sub: { a: 1 } }), 'sub'), { code: 'ERR_ROUTER_BAD_KEY' });
  assert.throws(() => compileSource({ path: 1 })(view({}, '/a/%E0%A4%A')), { code: 'ERR_ROUTER_BAD_KEY' });
});
