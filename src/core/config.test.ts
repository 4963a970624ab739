import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneByteStrings } from './config.ts';

test('core/config: oneByteStrings keeps the data as it is (keys, nesting, wider characters, non-strings)', () => {
  const data = {
    'zone-a': { host: '127.0.0.1', tags: ['é', '北京', 'x'], n: 3, on: true, none: null },
    list: [[1, 'a']],
  };
  const out = oneByteStrings(data);
  assert.deepEqual(out, data);
  assert.notEqual(out, data, 'a copy');
});
