#!/usr/bin/env node
// Runs the TypeScript CLI directly (bin/ts.mjs strips the types), so `npx multizone` works right
// after `npm ci` and never runs a stale build.
import './ts.mjs';

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
