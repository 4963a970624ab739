// edge.disk.path in `multizone up`, which runs every zone in one process: each zone's edge
// writes a ring file of its own (<path>.<zone>), never the one path all four would share.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/logger.ts';
import { startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';

test('edge: every zone of one process has its own disk ring', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-zone-rings-'));
  const ring = join(dir, 'ring');
  const cluster = await startCluster({
    topology: testTopology({
      roles: ['app', 'edge'],
      extra: `edge:\n  disk: { path: ${JSON.stringify(ring)}, sizeBytes: 1048576 }\n`,
    }),
    logger: silentLogger,
  });
  try {
    for (const z of ['sh-a', 'sh-b', 'bj-a', 'gz-a']) assert.ok(existsSync(`${ring}.${z}`), `${z}'s ring`);
    assert.equal(existsSync(ring), false, 'no ring shared by every zone');
  } finally {
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
