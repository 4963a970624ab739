/**
 * A destination zone's PostgreSQL cut off mid-stream and back: its applies fail with
 * ERR_STORE_UNAVAILABLE and are retried; after healing it holds every acknowledged write of
 * the origin, applied in order, with anti-entropy off (nothing repaired behind the log's back).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { systemClock } from '../../../src/core/clock.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { MemoryLog } from '../../../src/replication/index.ts';
import { MemoryFence, PgStore, resourcePolicies, type Store } from '../../../src/store/index.ts';
import { startTcpProxy } from '../../support/tcp-proxy.ts';
import { pgUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { faultReplication, lineLogger, orderWatch, zoneWriter } from './fault-support.ts';
import { until } from './log.contract.ts';

test('replication (PostgreSQL): a destination database cut off mid-stream and back gets every acknowledged write, in order', async (t) => {
  if (!(await reachable('postgres'))) return t.skip('no PostgreSQL');
  const u = new URL(pgUrl());
  const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  const viaProxy = new URL(pgUrl());
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 4 });
  const suffix = Math.floor(Math.random() * 1e9).toString(36);
  const stores = new Map<string, Store>();
  const errors: string[] = [];
  const said: string[] = [];
  for (const zone of ZONES) {
    const deps = { zone, topology, fence, policies, clock: systemClock };
    const schema = `mzt_pgf_${suffix}_${zone.replace('-', '_')}`;
    stores.set(
      zone,
      await PgStore.open(
        // gz-a reaches its database through the proxy, on a pool of its own
        zone === 'gz-a'
          ? { ...deps, schema, connection: viaProxy.toString(), poolSize: 2 }
          : { ...deps, schema, connection: pool },
      ),
    );
  }
  const log = new MemoryLog({ clock: systemClock, random: seededRandom(7) });
  const order = orderWatch();
  const repl = faultReplication({
    topology,
    stores,
    log,
    // what an operator sees: one warning when the applies start failing, one line when they work again
    logger: lineLogger(said),
    events: {
      ...order.events,
      error: (_zone, e) => void errors.push((e as { code?: string }).code ?? String(e)),
    },
  });
  t.after(async () => {
    proxy.heal();
    await repl.stop();
    await log.close();
    for (const s of stores.values()) {
      await (s as PgStore).dropSchema().catch(() => {});
      await s.close();
    }
    await pool.end();
    await proxy.close();
  });
  await repl.start();
  const write = zoneWriter(stores.get('sh-a')!, topology, fence, 'pf', () => repl.notify('sh-a'));
  let last = 0;
  let heldAt = 0;
  for (let i = 0; i < 150; i++) {
    if (i === 50) proxy.cut();
    if (i === 100) {
      heldAt = await stores.get('sh-b')!.cursor('sh-a');
      proxy.heal();
    }
    last = await write(i);
    await systemClock.sleep(i >= 50 && i < 100 ? 10 : 2);
  }
  const dest = stores.get('gz-a')!;
  await until(async () => (await dest.cursor('sh-a')) >= last, `gz-a applying up to ${last}`);
  assert.equal((await dest.list('profiles', 'pf-', 1000)).length, 150);
  order.assertInOrder('gz-a');
  // the others went on applying while gz-a's database was away, and gz-a's applies failed clearly
  assert.ok(heldAt > 0);
  assert.ok(errors.includes('ERR_STORE_UNAVAILABLE'), errors.join(', '));
  assert.deepEqual(
    said.filter((l) => l.includes('applying')),
    ['warn replication: applying a batch failed; will retry', 'info replication: applying again'],
  );
});
