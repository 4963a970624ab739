import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { startCluster } from '../../src/cli/cluster.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { parseTopology } from '../../src/topology/index.ts';
import { testTopologyYaml } from '../../test/support/net.ts';
import { accountsAppRole } from './role.ts';

test('accounts: the zone role starts on the data part of multizone up and registers through the core zone', async () => {
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
  const cluster = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
  const started: { close(): Promise<void> }[] = [];
  try {
    const ports = new Map<string, number>();
    for (const z of topology.zones) {
      const s = await accountsAppRole.start(cluster.ctx, z);
      assert.ok(s);
      started.push(s);
      ports.set(z.name, s.listeners[0]!.port);
    }
    const r = await request(`http://127.0.0.1:${ports.get('gz-a')}/api/register`, {
      method: 'POST',
      body: JSON.stringify({ phone: '+8613900000000', password: 'secret' }),
    });
    assert.equal(r.statusCode, 201);
    assert.equal(((await r.body.json()) as { zone: string }).zone, topology.coreZone);
  } finally {
    for (const s of started) await s.close();
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
