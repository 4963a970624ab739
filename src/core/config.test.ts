import assert from 'node:assert/strict';
import { test } from 'node:test';
import { oneByteStrings, YamlSource } from './config.ts';

test('core/config: oneByteStrings keeps the data as it is (keys, nesting, wider characters, non-strings)', () => {
  const data = {
    'zone-a': { host: '127.0.0.1', tags: ['é', '北京', 'x'], n: 3, on: true, none: null },
    list: [[1, 'a']],
  };
  const out = oneByteStrings(data);
  assert.deepEqual(out, data);
  assert.notEqual(out, data, 'a copy');
});

test('core/config: a YAML syntax error is reported once per line and the cascade after it is counted, not listed', () => {
  const lines = ['a: 1', 'b: { x: /p/{zone}.key, y: [1, 2], z: { q: 1 } }'];
  for (let i = 0; i < 20; i++) lines.push(`k${i}: ${i}`);
  const ps = new YamlSource('bad.yaml', lines.join('\n')).syntaxProblems();
  assert.equal(ps[0]!.line, 2, 'the first problem is the bad line');
  assert.equal(new Set(ps.map((p) => p.line)).size, ps.length, 'one problem a line');
  assert.ok(ps.length <= 6, `${ps.length} problems`);
  assert.match(ps.at(-1)!.message, /and \d+ more lines? after these; fix the first one/);
  assert.deepEqual(new YamlSource('ok.yaml', 'a: 1\n').syntaxProblems(), []);
});
