/**
 * The same edge suites on both hit paths: the suites run on the lean path by default
 * (edge.leanHits is on, see test/edge/support/scripted.ts); this runs every one of them again
 * with MZ_EDGE_LEAN_HITS=0, node:http only. The files are the same files, not copies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

/** Files that are about the lean path itself (they choose the path per test). */
const LEAN_ONLY = new Set(['node-path.test.ts', 'lean-hits.test.ts']);

function suites(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && !LEAN_ONLY.has(f))
    .map((f) => join(dir, f));
}

test('edge: every edge suite passes with the lean hit path off (node:http only)', () => {
  const files = [...suites('test/edge'), ...suites('test/integration/edge')];
  assert.ok(files.length >= 8, 'the edge suites were found');
  // a runner of its own: without NODE_TEST_CONTEXT it reports TAP, not to this test's runner
  const env: NodeJS.ProcessEnv = { ...process.env, MZ_EDGE_LEAN_HITS: '0' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(
    process.execPath,
    ['--import', './bin/ts.mjs', '--test', '--test-reporter=tap', '--test-concurrency=2', ...files],
    {
      env,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  const failed = [...(r.stdout ?? '').matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(failed, [], `${failed.length} tests failed with the lean path off:\n${r.stdout?.slice(-4000)}`);
  assert.equal(r.status, 0, r.stderr?.slice(-4000));
  assert.match(r.stdout, /^# fail 0$/m);
});
