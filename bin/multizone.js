#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx), so `npx multizone` works right after `npm ci`
// and never runs a stale build.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
