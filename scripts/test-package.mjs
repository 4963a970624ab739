#!/usr/bin/env node
// The packed-package test: `npm pack` (which builds dist/ through prepack), install the tarball
// into a scratch project the way a user's project would, and run a program there that imports
// `multizone` and `multizone/sdk`, starts a two-zone cluster with its own app on free ports,
// and calls it through a router. Exits non-zero, naming the step, when anything fails.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'mz-package-'));
const run = (step, cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    console.error(`test-package: ${step} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  }
};

const USER_PROGRAM = `
import { startCluster, parseTopology, HEADERS } from 'multizone';
import { createResolver } from 'multizone/sdk';
import { createServer } from 'node:http';
import assert from 'node:assert/strict';

// the user's own app: answers with its zone; the runtime starts it in every zone
const myApp = {
  name: 'hello',
  async start(ctx) {
    const server = createServer((req, res) => res.end(JSON.stringify({ zone: ctx.zone.name, shard: req.headers[HEADERS.shard] })));
    await new Promise((r) => server.listen(ctx.listen.port, ctx.listen.host, r));
    const a = server.address();
    return { server, host: a.address, port: a.port, close: () => new Promise((r) => server.close(() => r())) };
  },
};
const zone = (name, core, backup) => \`  \${name}:
    region: r
    core: \${core}
    backups: [\${backup}]
    listen: { app: 127.0.0.1:0, router: 127.0.0.1:0 }\`;
const topology = parseTopology(\`name: scratch
apex: shop.test
regions: { r: {} }
zones:
\${zone('z-a', true, 'z-b')}
\${zone('z-b', false, 'z-a')}
services:
  api.shop.test: { role: router, policy: p }
policies:
  p: { default: [z-a, z-b] }
control: { listen: 127.0.0.1:0 }
store: { dataDir: \${JSON.stringify(process.env.MZ_DATA)} }
\`, 'scratch.yaml');
const cluster = await startCluster({ topology, app: myApp, control: { host: '127.0.0.1', port: 0 } });
try {
  const router = cluster.listeners.find((l) => l.role === 'router' && l.zone === 'z-b');
  const r = await fetch(\`http://\${router.host}:\${router.port}/api/hello\`, { headers: { 'x-user-id': '42' } });
  const body = await r.json();
  assert.equal(r.status, 200);
  assert.ok(['z-a', 'z-b'].includes(body.zone));
  const t = await (await fetch(\`http://127.0.0.1:\${cluster.control.port}/api/topology\`)).json();
  assert.equal(t.app, 'hello');
  assert.equal(typeof createResolver, 'function');
  console.log(JSON.stringify({ served: body.zone, app: t.app }));
} finally {
  await cluster.close();
}
`;

run('npm pack', 'npm', ['pack', '--pack-destination', work, '--silent'], root);
const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
if (!tarball) {
  console.error('test-package: npm pack made no tarball');
  process.exit(1);
}
const app = join(work, 'app');
mkdirSync(app);
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
run(
  'npm install of the tarball',
  'npm',
  ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball)],
  app,
);
writeFileSync(join(app, 'main.mjs'), USER_PROGRAM);
process.env.MZ_DATA = join(work, 'data');
const out = run('the scratch program', process.execPath, ['main.mjs'], app).trim();
console.log(`test-package: ${tarball} installed and used from a scratch project: ${out}`);
rmSync(work, { recursive: true, force: true });
