/**
 * store.maxValueBytes against the NATS server's max_payload: `multizone up` with the JetStream
 * log refuses to start when a change of the allowed size could not travel in one message (it
 * would stop its zone's shipping), naming the setting and the figure that fits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { JetStreamLog } from '../../../src/replication/index.ts';
import { startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';
import { natsUrl, reachable } from '../store/services.ts';

const prefix = `MZPL${Math.floor(Math.random() * 1e6)}`;
const topologyWith = (dir: string, maxValueBytes: number) =>
  parseTopology(
    testTopologyYaml({
      extra: `shards:
  count: 16
resources:
  profiles: { class: sharded }
store:
  dataDir: ${join(dir, 'data')}
  maxValueBytes: ${maxValueBytes}
replication:
  log: jetstream
  antiEntropyMs: 0
  nats: { url: "nats://${natsUrl()}", prefix: ${prefix} }
`,
    }),
    'limit-test.yaml',
  );

test('replication: store.maxValueBytes over what NATS max_payload carries stops startup with the figure that fits', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const log = await JetStreamLog.connect({ servers: natsUrl(), clock: systemClock });
  const fits = log.maxValueBytes();
  await log.close();
  const dir = mkdtempSync(join(tmpdir(), 'mz-limit-'));
  try {
    await assert.rejects(
      startCluster({
        topology: topologyWith(dir, fits + 1),
        control: { host: '127.0.0.1', port: 0 },
        logger: silentLogger,
      }),
      (e: { code?: string; message?: string }) => {
        assert.equal(e.code, 'ERR_REPL_PAYLOAD_LIMIT');
        assert.match(e.message!, /limit-test\.yaml: store\.maxValueBytes is \d+/);
        assert.match(e.message!, new RegExp(`set store\\.maxValueBytes to ${fits} or less`));
        return true;
      },
    );
    // at the figure it names, the cluster starts
    const topology = topologyWith(dir, fits);
    const cluster = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
    await cluster.close();
    const cleanup = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock });
    await cleanup.deleteStreams(topology.zones.map((z) => z.name));
    await cleanup.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
