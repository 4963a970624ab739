#!/usr/bin/env node
// Copies non-TypeScript files the code loads at run time (YAML defaults) from src/ to dist/.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

(function walk(dir) {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(ya?ml|html|json)$/.test(n)) cpSync(p, p.replace(/^src/, 'dist'));
  }
})('src');
