import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from './main.ts';

test('cli/conflicts: usage errors exit 64 without calling the control API', async () => {
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
  const control = ['--control', 'http://127.0.0.1:1'];
  assert.equal(await main(['conflicts', 'resolve', 'profiles/u1', ...control], io), 64);
  assert.match(out.join('\n'), /--pick/);
  assert.equal(await main(['conflicts', 'frobnicate', ...control], io), 64);
  assert.equal(await main(['conflicts', 'resolve', '--pick', 'sh-a', ...control], io), 64);
});
