#!/usr/bin/env node
// Runs the TypeScript CLI directly (bin/ts.mjs strips the types), so `npx multizone` works right
// after `npm ci` and never runs a stale build. Adds the accounts example to the apps `up --app` knows.
import './ts.mjs';

const { main, BUILTIN_APPS } = await import('../src/cli/main.ts');
const apps = {
  ...BUILTIN_APPS,
  accounts: async () => (await import('../examples/accounts/role.ts')).accountsAppRole,
};
process.exitCode = await main(process.argv.slice(2), undefined, apps);
