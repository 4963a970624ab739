/**
 * The NATS server itself restarts (killed, started again on the same store directory) while a
 * zone keeps writing: a private nats-server on a port of its own, so the machine's server and
 * the other tests are untouched. Streams and durable consumers come back from disk; every
 * acknowledged write reaches every zone, in order, with anti-entropy off.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { JetStreamLog } from '../../../src/replication/index.ts';
import { MemoryFence } from '../../../src/store/index.ts';
import { freePort } from '../../support/net.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { faultReplication, orderWatch, sqliteZones, zoneWriter } from './fault-support.ts';
import { until } from './log.contract.ts';

const NATS_SERVER = '/usr/sbin/nats-server';

test('replication (SQLite + JetStream): the NATS server killed and started again mid-stream — every acknowledged write reaches every zone, in order', async (t) => {
  if (!existsSync(NATS_SERVER)) {
    if (process.env.CI === 'true') assert.fail(`${NATS_SERVER} is missing (CI=true)`);
    return t.skip(`no ${NATS_SERVER}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'mz-natsrestart-'));
  const port = await freePort();
  let server: ChildProcess | undefined;
  const startServer = async () => {
    server = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    server.stderr!.on('data', (d) => {
      err += d;
    });
    // ready when it logs that it accepts clients
    await until(() => /Server is ready/.test(err), 'nats-server ready');
  };
  await startServer();
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const stores = sqliteZones(dir, topology, fence);
  const log = await JetStreamLog.connect({ servers: `127.0.0.1:${port}`, prefix: 'MZR', clock: systemClock });
  const order = orderWatch();
  const repl = faultReplication({ topology, stores, log, events: order.events });
  t.after(async () => {
    await repl.stop();
    await log.close();
    for (const s of stores.values()) await s.close();
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await repl.start();
  const write = zoneWriter(stores.get('sh-a')!, topology, fence, 'nr', () => repl.notify('sh-a'));
  let last = 0;
  for (let i = 0; i < 100; i++) {
    last = await write(i);
    await systemClock.sleep(2);
  }
  // killed outright, as a crash would: what it acknowledged is in its store directory
  server!.kill('SIGKILL');
  await once(server!, 'exit');
  for (let i = 100; i < 200; i++) {
    last = await write(i);
    await systemClock.sleep(5);
  }
  // still down: the writes after the kill have not reached the others
  assert.ok((await stores.get('gz-a')!.cursor('sh-a')) < last);
  await startServer();
  for (let i = 200; i < 300; i++) {
    last = await write(i);
    await systemClock.sleep(2);
  }
  for (const dest of ZONES.filter((z) => z !== 'sh-a')) {
    const store = stores.get(dest)!;
    await until(async () => (await store.cursor('sh-a')) >= last, `${dest} applying up to ${last}`);
    assert.equal((await store.list('profiles', 'nr-', 1000)).length, 300, dest);
    order.assertInOrder(dest);
  }
});
