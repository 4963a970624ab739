import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseAcceptEncoding, normaliseHost, normaliseTarget, secondaryKey, varyNames } from './cache-key.ts';

test('edge/cache-key: request targets normalise (dot-segments, unreserved escapes, hex case)', () => {
  const cases: [string, string | null][] = [
    ['/a/b', '/a/b'],
    ['/a/./b/../c', '/a/c'],
    ['/../../x', '/x'],
    ['/a/%7euser', '/a/~user'],
    ['/a%2fb', '/a%2Fb'],
    ['/q?x=%41&y=%2f', '/q?x=A&y=%2F'],
    ['/q?', '/q'],
    ['/a/.', '/a/'],
    ['/bad%zz', null],
    ['/bad%4', null],
    ['relative', null],
    ['/sp ace', null],
    ['/frag#x', null],
  ];
  for (const [raw, want] of cases) assert.equal(normaliseTarget(raw), want, raw);
});

test('edge/cache-key: hosts lowercase, lose the default port and a trailing dot; bad ones are null', () => {
  assert.equal(normaliseHost('Example.COM:80'), 'example.com');
  assert.equal(normaliseHost('example.com.'), 'example.com');
  assert.equal(normaliseHost('example.com:8080'), 'example.com:8080');
  assert.equal(normaliseHost('example.com:443', 443), 'example.com');
  assert.equal(normaliseHost('[::1]:80'), '[::1]');
  assert.equal(normaliseHost('a b'), null);
  assert.equal(normaliseHost('evil.com/x'), null);
  assert.equal(normaliseHost(undefined), null);
});

test('edge/cache-key: Accept-Encoding normalises to a sorted set of accepted codings', () => {
  assert.equal(normaliseAcceptEncoding('gzip, deflate, br'), 'br,deflate,gzip');
  assert.equal(normaliseAcceptEncoding('br;q=1.0, GZIP ,deflate;q=0.5'), 'br,deflate,gzip');
  assert.equal(normaliseAcceptEncoding('gzip;q=0, br'), 'br');
  assert.equal(normaliseAcceptEncoding('identity'), '');
  assert.equal(normaliseAcceptEncoding('*'), 'br,gzip');
});

test('edge/cache-key: Vary names and secondary keys', () => {
  assert.deepEqual(varyNames('Accept-Language, accept-encoding'), ['accept-encoding', 'accept-language']);
  assert.equal(varyNames('Accept, *'), '*');
  const k1 = secondaryKey(['accept-encoding', 'accept-language'], {
    'accept-encoding': 'gzip, br',
    'accept-language': 'en ,  fr',
  });
  const k2 = secondaryKey(['accept-encoding', 'accept-language'], {
    'accept-encoding': 'br,gzip',
    'accept-language': 'en,fr',
  });
  assert.equal(k1, k2);
  assert.notEqual(k1, secondaryKey(['accept-encoding', 'accept-language'], { 'accept-encoding': 'br' }));
});
