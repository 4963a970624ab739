#!/usr/bin/env node
// `npm run bench -- NAME` runs every bench/NAME/*.bench.ts (through bin/ts.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const name = process.argv[2];
// a bench is a folder with *.bench.ts files (bench/support holds shared code)
const available = existsSync('bench')
  ? readdirSync('bench', { withFileTypes: true })
      .filter((d) => d.isDirectory() && readdirSync(join('bench', d.name)).some((f) => f.endsWith('.bench.ts')))
      .map((d) => d.name)
  : [];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME   (one of: ${available.join(', ')})`);
  process.exit(2);
}
const files = readdirSync(join('bench', name))
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
let status = 0;
for (const f of files) {
  console.log(`\n# bench/${name}/${f}`);
  const r = spawnSync(
    process.execPath,
    ['--import', './bin/ts.mjs', join('bench', name, f), ...process.argv.slice(3)],
    {
      stdio: 'inherit',
    },
  );
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
