/**
 * The log unreachable mid-stream: replication over JetStream through a TCP proxy that is cut
 * for a while and healed. The writing zone keeps acknowledging writes; after healing every
 * destination applies every one of them, in order, with anti-entropy off (so nothing the log
 * dropped could be repaired behind its back).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { JetStreamLog } from '../../../src/replication/index.ts';
import { MemoryFence } from '../../../src/store/index.ts';
import { startTcpProxy } from '../../support/tcp-proxy.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { faultReplication, lineLogger, orderWatch, sqliteZones, uniquePrefix, zoneWriter } from './fault-support.ts';
import { until } from './log.contract.ts';

test('replication (SQLite + JetStream): NATS cut off mid-stream and back — every acknowledged write reaches every zone, in order', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const [host, port] = natsUrl().split(':');
  const proxy = await startTcpProxy({ host: host!, port: Number(port) });
  const prefix = uniquePrefix('MZF');
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const dir = mkdtempSync(join(tmpdir(), 'mz-natsfault-'));
  const stores = sqliteZones(dir, topology, fence);
  const log = await JetStreamLog.connect({ servers: `127.0.0.1:${proxy.port}`, prefix, clock: systemClock });
  const order = orderWatch();
  const said: string[] = [];
  const repl = faultReplication({
    topology,
    stores,
    log,
    // what an operator sees: one warning when shipping starts failing, one line when it works again
    logger: lineLogger(said),
    events: order.events,
  });
  t.after(async () => {
    await repl.stop();
    await log.close();
    const clean = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock });
    await clean.deleteStreams([...ZONES]);
    await clean.close();
    for (const s of stores.values()) await s.close();
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await repl.start();
  // acknowledged locally whatever the log's state: the zone is up, only its link is not
  const write = zoneWriter(stores.get('sh-a')!, topology, fence, 'nf', () => repl.notify('sh-a'));
  let last = 0;
  let cutAt = 0;
  for (let i = 0; i < 300; i++) {
    if (i === 100) proxy.cut();
    if (i === 200) {
      // the cut held replication back (else this test would prove nothing)
      assert.ok((await stores.get('gz-a')!.cursor('sh-a')) < cutAt + 50, 'gz-a kept applying through the cut');
      proxy.heal();
    }
    last = await write(i);
    if (i === 100) cutAt = last;
    // the cut lasts a while: long enough for the NATS client to notice and reconnect
    await systemClock.sleep(i >= 100 && i < 200 ? 15 : 2);
  }
  for (const dest of ZONES.filter((z) => z !== 'sh-a')) {
    const store = stores.get(dest)!;
    await until(async () => (await store.cursor('sh-a')) >= last, `${dest} applying up to ${last}`);
    assert.equal((await store.list('profiles', 'nf-', 1000)).length, 300, dest);
    order.assertInOrder(dest);
  }
  assert.deepEqual(
    said.filter((l) => l.includes('shipping')),
    ['warn replication: shipping failed; will retry', 'info replication: shipping again'],
  );
});
