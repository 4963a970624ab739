/**
 * The same DNS suites on both miss paths: the suites run with the lean stage on by default
 * (src/dns/stages/lean.ts); this runs every one of them again with MZ_DNS_LEAN_PATH=0, the
 * full stage chain for every miss. The files are the same files, not copies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

/** This file (it would run itself). */
const SELF = 'full-path.test.ts';

function suites(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts') && !f.endsWith(SELF))
    .map((f) => join(dir, f));
}

test('dns: every DNS suite (and DoH) passes with the lean stage off (full chain only)', () => {
  const files = [...suites('src/dns'), ...suites('test/integration/dns'), 'test/integration/httpdns/doh.test.ts'];
  assert.ok(files.length >= 15, 'the DNS suites were found');
  // a runner of its own: without NODE_TEST_CONTEXT it reports TAP, not to this test's runner
  const env: NodeJS.ProcessEnv = { ...process.env, MZ_DNS_LEAN_PATH: '0' };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(
    process.execPath,
    ['--import', './bin/ts.mjs', '--test', '--test-reporter=tap', '--test-concurrency=2', ...files],
    { env, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const failed = [...(r.stdout ?? '').matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(failed, [], `${failed.length} tests failed with the lean stage off:\n${r.stdout?.slice(-4000)}`);
  assert.equal(r.status, 0, r.stderr?.slice(-4000));
  assert.match(r.stdout, /^# fail 0$/m);
});
