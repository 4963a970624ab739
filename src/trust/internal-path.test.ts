import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInternalPath, normalisePath } from './internal-path.ts';

test('trust/internal-path: every spelling of /internal is internal', () => {
  for (const p of [
    '/internal',
    '/internal/',
    '/internal/accounts/1',
    '/INTERNAL/x',
    '/Internal?x=1',
    '/internal?',
    '//internal/x',
    '/api/../internal/x',
    '/api/%2e%2e/internal/x',
    '/api/%2E%2E/internal',
    '/api/.%2e/internal',
    '/%69nternal/x',
    '/%49NTERNAL/x',
    '/%2569nternal/x',
    '/%252569nternal/x',
    '/api%2f..%2finternal/x',
    '/api%5c..%5cinternal',
    '\\internal\\x',
    '/api\\..\\internal',
    '/./internal/x',
    '/internal;v=1/x',
    '/api/..;/internal/x',
    '/internal%00/x',
    '/internal%20/x',
    '/internal./x',
    'http://evil/internal/x',
    'HTTP://h:1//internal',
    '/a/b/../../internal',
    '/a/../../../internal',
  ])
    assert.ok(isInternalPath(p), p);
});

test('trust/internal-path: public paths are not', () => {
  for (const p of [
    '/',
    '/api/internal',
    '/internals',
    '/internalx/y',
    '/api/x?next=/internal',
    '/api/a#/internal',
    '/x/%zz',
  ])
    assert.ok(!isInternalPath(p), p);
  assert.equal(normalisePath('/api/%252e%252e/%5CINTERNAL;x/a'), '/internal/a');
});
