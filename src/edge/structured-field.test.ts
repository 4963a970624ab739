import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTargetedCacheControl } from './cache-control.ts';
import { ageField } from './freshness.ts';
import { parseSfDictionary } from './structured-field.ts';

test('edge/structured-field: dictionaries parse, anything malformed fails the whole field', () => {
  const ok: [string, Record<string, unknown>][] = [
    ['', {}],
    ['max-age=60', { 'max-age': 60 }],
    ['max-age=60, public', { 'max-age': 60, public: true }],
    ['max-age=60,public ,  no-store', { 'max-age': 60, public: true, 'no-store': true }],
    ['private="set-cookie"', { private: 'set-cookie' }],
    ['a=?0, b=1.5, c=tok, d=:AQ==:', { a: false, b: 1.5, c: { token: 'tok' }, d: { bytes: 'AQ==' } }],
    ['a;p=1, b=2;q', { a: true, b: 2 }],
    ['a=(1 2);x, max-age=5', { a: { list: [1, 2] }, 'max-age': 5 }],
    ['max-age=1, max-age=9', { 'max-age': 9 }],
  ];
  for (const [text, want] of ok)
    assert.deepEqual(Object.fromEntries(parseSfDictionary(text) ?? [['FAIL', 1]]), want, text);
  const bad = ['max-age=10000, &&&&&', 'Max-Age=5', 'max-age=5,', 'a="x', 'a=1.2345', 'a=1 b', ',a', 'a=?2', 'a=(1'];
  for (const text of bad) assert.equal(parseSfDictionary(text), undefined, text);
});

test('edge/cache-control: CDN-Cache-Control directives of the wrong type invalidate the field', () => {
  assert.deepEqual(Object.fromEntries(parseTargetedCacheControl('max-age=60, no-cache')!), {
    'max-age': '60',
    'no-cache': true,
  });
  for (const v of ['max-age="60"', 'max-age=-1', 'max-age=1.5', 's-maxage=tok', 'no-store=?0', 'private=5'])
    assert.equal(parseTargetedCacheControl(v), undefined, v);
});

test('edge/freshness: Age lists count their largest member, junk is invalid', () => {
  assert.equal(ageField({}), undefined);
  assert.equal(ageField({ age: '5' }), 5);
  assert.equal(ageField({ age: '7200, 0' }), 7200);
  assert.equal(ageField({ age: ['0', '30'] }), 30);
  assert.equal(ageField({ age: 'soon' }), 'invalid');
  assert.equal(ageField({ age: '5, x' }), 'invalid');
});
