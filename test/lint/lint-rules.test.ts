import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

// Each case is a small tree under test/fixtures/lint/<case>/src that breaks one rule (or is clean).
// Loading the TypeScript parser takes a second, so the runs start up front, two at a time, and each
// test awaits its own.
type Run = { code: number | null; out: string };
const runs = new Map<string, Promise<Run>>();
let lanes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];

function spawnLint(fixture: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/lint-rules.mjs', `test/fixtures/lint/${fixture}`]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

function lint(fixture: string): Promise<Run> {
  let run = runs.get(fixture);
  if (!run) {
    const [lane, ...rest] = lanes as [Promise<unknown>, ...Promise<unknown>[]];
    run = lane.then(() => spawnLint(fixture));
    lanes = [...rest, run.catch(() => {})];
    runs.set(fixture, run);
  }
  return run;
}

/** Runs the fixture and checks it fails with `rule` at each `file:line` (relative to its src/). */
async function assertFails(fixture: string, rule: string, ...at: string[]): Promise<string> {
  const { code, out } = await lint(fixture);
  assert.equal(code, 1, `expected exit 1 for ${fixture}:\n${out}`);
  for (const where of at) {
    const line = `test/fixtures/lint/${fixture}/src/${where}: ${rule}: `;
    assert.ok(out.includes(line), `expected "${line}" in:\n${out}`);
  }
  return out;
}

const CASES = [
  'clean',
  'banned-call',
  'index-only',
  'index-only-dynamic',
  'index-only-multiline',
  'index-only-export-from',
  'outside-src',
  'layer',
  'layer-unknown',
  'folder-cycle',
  'file-cycle',
  'file-cycle-type-only',
  'error-literal',
  'header-literal',
];
for (const c of CASES) void lint(c);

test('lint: a clean tree passes (index imports, core modules, comments, test files reaching internals)', async () => {
  const { code, out } = await lint('clean');
  assert.equal(code, 0, out);
  assert.match(out, /lint-rules: \d+ files ok/);
});

test('lint: setTimeout, Math.random, Date.now passed as a value and new Date() outside core/clock.ts fail', async () => {
  const out = await assertFails(
    'banned-call',
    'banned-call',
    'store/retry.ts:2',
    'store/retry.ts:4',
    'store/stamp.ts:2',
    'store/stamp.ts:3',
  );
  assert.doesNotMatch(out, /stamp\.ts:1:/, 'a comment mentioning Date.now is not a call');
});

test("lint: importing another folder's internals fails, for plain, type-only and side-effect imports", async () => {
  await assertFails('index-only', 'index-only', 'store/plain.ts:1', 'store/type-only.ts:1', 'store/side-effect.ts:1');
});

test("lint: a dynamic import() of another folder's internals fails", async () => {
  await assertFails('index-only-dynamic', 'index-only', 'store/lazy.ts:2');
});

test("lint: a multi-line import of another folder's internals fails at its specifier", async () => {
  const out = await assertFails('index-only-multiline', 'index-only', 'store/multi.ts:6');
  assert.doesNotMatch(out, /multi\.ts:1:/, 'the import through geo/index.ts is fine');
});

test("lint: export ... from and export * from another folder's internals fail", async () => {
  await assertFails('index-only-export-from', 'index-only', 'store/reexport.ts:1', 'store/star.ts:1');
});

test('lint: a src file importing test/support (outside src/) fails', async () => {
  await assertFails('outside-src', 'outside-src', 'store/db.ts:1');
});

test('lint: a lower layer importing a higher one (geo imports store) fails', async () => {
  const out = await assertFails('layer', 'layer', 'geo/lookup.ts:1');
  assert.match(out, /geo \(layer 1\) imports store \(layer 3\)/);
});

test('lint: a folder missing from the layer order fails', async () => {
  const out = await assertFails('layer-unknown', 'layer', 'widgets/index.ts:1');
  assert.match(out, /unknown folder widgets: add it to the layer order/);
});

test('lint: a cycle between folders (geo and topology) fails and is printed', async () => {
  const out = await assertFails('folder-cycle', 'folder-cycle', 'geo/index.ts:1');
  assert.match(out, /geo -> topology \(geo\/index\.ts:1\) -> geo \(topology\/index\.ts:1\)/);
});

test('lint: a cycle between two files fails and is printed once', async () => {
  const out = await assertFails('file-cycle', 'file-cycle', 'store/a.ts:1');
  assert.match(out, /store\/a\.ts -> store\/b\.ts -> store\/a\.ts/);
  assert.equal(out.match(/file-cycle:/g)?.length, 1);
});

test('lint: a cycle made only of import type fails (types still couple files)', async () => {
  const out = await assertFails('file-cycle-type-only', 'file-cycle', 'store/store.ts:1');
  assert.match(out, /store\/store\.ts -> store\/types\.ts -> store\/store\.ts/);
});

test('lint: a declared error code written as a string literal fails; comments and other programs’ codes do not', async () => {
  const out = await assertFails('error-literal', 'error-literal', 'store/read.ts:4');
  assert.equal(out.match(/error-literal:/g)?.length, 1, out);
});

test('lint: an x-multizone- header spelled outside shardmap/headers.ts fails', async () => {
  await assertFails('header-literal', 'header-literal', 'router/forward.ts:2');
});
