import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../src/core/logger.ts';
import { parseTopology, startCluster } from '../../src/index.ts';
import { testTopologyYaml } from '../../test/support/net.ts';
import { accountsAppRole } from './role.ts';

test('accounts: the app role runs in every zone of startCluster on its stores and registers through the core zone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-accounts-role-'));
  const topology = parseTopology(
    testTopologyYaml({
      extra: `resources:
  accounts: { class: global, unique: true }
store:
  dataDir: ${join(dir, 'data')}
`,
    }),
    'accounts-role.yaml',
  );
  const cluster = await startCluster({
    topology,
    control: { host: '127.0.0.1', port: 0 },
    logger: silentLogger,
    app: accountsAppRole,
  });
  try {
    const ports = new Map<string, number>();
    for (const z of topology.zones) {
      const app = cluster.services.zones.get(z.name)?.app;
      assert.ok(app, `${z.name} runs the accounts app`);
      ports.set(z.name, app.port);
    }
    assert.equal(
      ((await (await request(`http://127.0.0.1:${cluster.control.port}/api/topology`)).body.json()) as { app: string })
        .app,
      'accounts',
    );
    const r = await request(`http://127.0.0.1:${ports.get('gz-a')}/api/register`, {
      method: 'POST',
      body: JSON.stringify({ phone: '+8613900000000', password: 'secret' }),
    });
    assert.equal(r.statusCode, 201);
    assert.equal(((await r.body.json()) as { zone: string }).zone, topology.coreZone);
  } finally {
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
