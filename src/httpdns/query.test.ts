import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { QueryParams } from './query.ts';

const NAMES = ['host', 'ip', 'query', 'dns', 'h', ''];

test('QueryParams.get agrees with URLSearchParams on any query', () => {
  // queries built from the characters that matter: separators, escapes, names that prefix each other
  const piece = fc.constantFrom(
    'host',
    'hos',
    'hostx',
    'ip',
    'h',
    '=',
    '&',
    '%',
    '%2',
    '%41',
    '%zz',
    '+',
    'a',
    '.',
    ',',
    '%E4%B8%AD',
    '中',
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 24 }), (parts) => {
      const q = parts.join('');
      const ours = new QueryParams(q);
      const theirs = new URLSearchParams(q);
      for (const n of NAMES) assert.equal(ours.get(n), theirs.get(n), `query ${JSON.stringify(q)} name ${n}`);
    }),
    { numRuns: 5000 },
  );
});

test('QueryParams: first pair wins, bare keys are empty, prefixes do not match', () => {
  const p = new QueryParams('hostname=x&host&host=b&ip=1.2.3.4');
  assert.equal(p.get('host'), '');
  assert.equal(p.get('hostname'), 'x');
  assert.equal(p.get('ip'), '1.2.3.4');
  assert.equal(p.get('query'), null);
  assert.equal(new QueryParams('host=a%2Cb&x=1+2').get('host'), 'a,b');
  assert.equal(new QueryParams('host=a%2Cb&x=1+2').get('x'), '1 2');
});
