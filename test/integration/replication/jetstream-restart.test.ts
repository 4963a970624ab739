/**
 * A destination zone restarts while batches wait for it: its process (here: its own
 * Replication and NATS connection) stops with batches delivered to it but not applied, the
 * origin keeps writing, and it starts again. JetStream would hand it the newer batches first;
 * the log starts its consumer again after the last batch applied, so it applies every batch in
 * order, with no gap for anti-entropy (off here) to mend.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { JetStreamLog } from '../../../src/replication/index.ts';
import { MemoryFence, type Store } from '../../../src/store/index.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { faultReplication, orderWatch, sqliteZones, uniquePrefix, zoneWriter } from './fault-support.ts';
import { until } from './log.contract.ts';

test('replication (SQLite + JetStream): a destination restarted with batches waiting applies every one, in order, no gap', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const prefix = uniquePrefix('MZJ');
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const dir = mkdtempSync(join(tmpdir(), 'mz-jsrestart-'));
  const stores = sqliteZones(dir, topology, fence);
  // gz-a applies slowly, so batches queue up in its subscription's buffer
  const gz = stores.get('gz-a')!;
  const slow = new Proxy(gz, {
    get(target, p) {
      if (p === 'apply')
        return async (...a: Parameters<Store['apply']>) => {
          await systemClock.sleep(15);
          return target.apply(...a);
        };
      const v = Reflect.get(target, p, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const order = orderWatch();
  const open = async (zones: string[], store?: (z: string) => Store) => {
    const log = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock });
    const repl = faultReplication({
      topology,
      stores: new Map(zones.map((z) => [z, store?.(z) ?? stores.get(z)!])),
      log,
      events: order.events,
    });
    await repl.start();
    return { repl, log };
  };
  const others = await open(['sh-a', 'sh-b', 'bj-a']);
  let dest = await open(['gz-a'], () => slow);
  t.after(async () => {
    for (const p of [others, dest]) await p.repl.stop();
    await others.log.deleteStreams([...ZONES]);
    for (const p of [others, dest]) await p.log.close();
    for (const s of stores.values()) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const writeOne = zoneWriter(stores.get('sh-a')!, topology, fence, 'jr', () => others.repl.notify('sh-a'));
  let last = 0;
  const write = async (i: number) => {
    last = await writeOne(i);
  };
  // a batch each (a pause after every write): many batches queue up for gz-a
  for (let i = 0; i < 150; i++) {
    await write(i);
    await systemClock.sleep(2);
  }
  // it has applied some, and more wait for it
  await until(async () => (await gz.cursor('sh-a')) > 0, 'gz-a applying');
  assert.ok((await gz.cursor('sh-a')) < last, 'nothing was left waiting');
  await dest.repl.stop();
  await dest.log.close();
  for (let i = 150; i < 200; i++) await write(i);
  await systemClock.sleep(100);
  dest = await open(['gz-a']);
  await until(async () => (await gz.cursor('sh-a')) >= last, `gz-a applying up to ${last}`);
  assert.equal((await gz.list('profiles', 'jr-', 1000)).length, 200);
  order.assertInOrder('gz-a');
});
