#!/usr/bin/env node
// Finds every *.test.ts under src/ and test/ and runs them with node:test (through bin/ts.mjs).
// `npm test -- dns` runs only files whose path contains "dns". A file may take 10 minutes (the lab's).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    // test/fixtures holds input trees for tests (e.g. lint fixtures' *.test.ts), not tests to run.
    if (name === 'node_modules' || name === 'fixtures' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
let files = [...walk('src', []), ...walk('test', []), ...walk('examples', [])].sort();
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched', filters.join(' '));
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', './bin/ts.mjs', '--test', '--test-concurrency=2', '--test-timeout=600000', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
