import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigDoc } from '../../scripts/gen-config-doc.ts';

test('docs: docs/config.md matches the topology schema (run npm run docs:config)', () => {
  assert.equal(readFileSync('docs/config.md', 'utf8'), renderConfigDoc());
});
