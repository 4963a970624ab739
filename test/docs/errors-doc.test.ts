import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadAllErrorModules } from '../../scripts/gen-errors-doc.ts';

test('docs: every error code is listed in docs/errors.md and every listed code exists', async () => {
  const reg = await loadAllErrorModules();
  const doc = readFileSync('docs/errors.md', 'utf8');
  const listed = new Set([...doc.matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
  const missing = [...reg.keys()].filter((c) => !listed.has(c));
  const stale = [...listed].filter((c) => !reg.has(c));
  assert.deepEqual(missing, [], `codes missing from docs/errors.md (run npm run docs:errors): ${missing.join(', ')}`);
  assert.deepEqual(stale, [], `docs/errors.md lists codes that no longer exist: ${stale.join(', ')}`);
});
