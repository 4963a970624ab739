#!/usr/bin/env node
// House rules Biome cannot express (STYLE.md §1, §3):
//  1. no Date.now / new Date() / Math.random / setTimeout / setInterval in src/ outside core/clock.ts
//     and core/random.ts (time and randomness are injected);
//  2. a capability imports another capability only through its index.ts;
//  3. no import cycles between capabilities.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve('src');
const files = [];
(function walk(d) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(ROOT);

const problems = [];
const banned = [
  /\bDate\.now\s*\(/,
  /\bnew Date\s*\(\s*\)/,
  /\bMath\.random\s*\(/,
  /(?<![.\w])setTimeout\s*\(/,
  /(?<![.\w])setInterval\s*\(/,
];
const allowBanned = new Set(['core/clock.ts', 'core/random.ts']);
const edges = new Map();

for (const file of files) {
  const rel = relative(ROOT, file);
  const cap = rel.split('/')[0];
  const text = readFileSync(file, 'utf8');
  const isTest = rel.endsWith('.test.ts');
  if (!allowBanned.has(rel) && !isTest) {
    text.split('\n').forEach((line, i) => {
      if (/^\s*(\/\/|\*)/.test(line) || line.includes('lint-allow')) return;
      for (const re of banned)
        if (re.test(line)) problems.push(`${rel}:${i + 1}: banned call ${re} (inject a Clock or Random)`);
    });
  }
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = relative(ROOT, resolve(dirname(file), m[1]));
    if (target.startsWith('..')) continue;
    const tcap = target.split('/')[0];
    if (tcap === cap || tcap === 'core' || tcap.endsWith('.ts')) continue;
    const inner = target.split('/').slice(1).join('/');
    if (!isTest && inner !== 'index.ts' && inner !== 'index.js' && inner !== 'index') {
      problems.push(`${rel}: imports ${target}; import ${tcap}/index.ts instead`);
    }
    if (!isTest && tcap !== 'topology') {
      if (!edges.has(cap)) edges.set(cap, new Set());
      edges.get(cap).add(tcap);
    }
  }
}

// cycle detection over capability edges
const state = new Map();
function dfs(n, path) {
  state.set(n, 1);
  for (const m of edges.get(n) ?? []) {
    if (state.get(m) === 1) problems.push(`import cycle: ${[...path, n, m].join(' -> ')}`);
    else if (!state.get(m)) dfs(m, [...path, n]);
  }
  state.set(n, 2);
}
for (const n of edges.keys()) if (!state.get(n)) dfs(n, []);

if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`lint-rules: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`lint-rules: ${files.length} files ok`);
