#!/usr/bin/env node
// Runs the TypeScript CLI directly (bin/ts.mjs strips the types), so `npx multizone` works right
// after `npm ci` and never runs a stale build. Adds the accounts and delivery examples to the apps `up --app` knows.
import { fileURLToPath } from 'node:url';
import './ts.mjs';

const { main, BUILTIN_APPS } = await import('../src/cli/main.ts');
const apps = {
  ...BUILTIN_APPS,
  accounts: async () => (await import('../examples/accounts/role.ts')).accountsAppRole,
  // an external service with a PostgreSQL database per zone, which multizone starts itself
  delivery: { topology: fileURLToPath(new URL('../examples/delivery/topology.yaml', import.meta.url)) },
};
process.exitCode = await main(process.argv.slice(2), undefined, apps);
