/**
 * PostgreSQL crashes under the zones (a private cluster on a port of its own, stopped with
 * `pg_ctl -m immediate`: no checkpoint, recovery from the WAL on the next start) while a zone
 * keeps writing. Every write acknowledged before, during or after the crash is there after
 * recovery and reaches every zone; writes refused meanwhile fail with ERR_STORE_UNAVAILABLE.
 * Needs the PostgreSQL server binaries and root (to run them as the postgres user).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { fnv1a, seededRandom } from '../../../src/core/random.ts';
import { MemoryLog } from '../../../src/replication/index.ts';
import { MemoryFence, PgStore, resourcePolicies, type Store } from '../../../src/store/index.ts';
import { privatePg } from '../../support/pg-private.ts';
import { storeTestTopology } from '../store/store.contract.ts';
import { ZONES } from './cluster.ts';
import { faultReplication } from './fault-support.ts';
import { until } from './log.contract.ts';

test('replication (PostgreSQL): the database crashes mid-stream — every acknowledged write survives recovery and reaches every zone', async (t) => {
  // applies commit asynchronously; with the WAL writer slow, those not yet flushed by a
  // synchronous commit (the zones' own writes) are lost in the crash and must come back from the log
  const pg = await privatePg(t, { wal_writer_delay: '10000ms', wal_writer_flush_after: '0' });
  if (!pg) return;
  const url = pg.url();
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const stores = new Map<string, Store>();
  for (const zone of ZONES)
    stores.set(
      zone,
      await PgStore.open({ zone, topology, fence, policies, clock: systemClock, connection: url, poolSize: 2 }),
    );
  const log = new MemoryLog({ clock: systemClock, random: seededRandom(3) });
  const repl = faultReplication({ topology, stores, log });
  pg.cleanup(async () => {
    await repl.stop();
    await log.close();
    for (const s of stores.values()) await s.close();
  });
  await repl.start();
  const writer = stores.get('sh-a')!;
  const shards = topology
    .initialOwners()
    .map((z, s) => (z === 'sh-a' ? s : -1))
    .filter((s) => s >= 0);
  const acked = new Map<string, number>();
  const refused: string[] = [];
  let i = 0;
  const writeSome = async (n: number, pauseMs: number) => {
    for (const end = i + n; i < end; i++) {
      const key = `pc-${i}`;
      const shard = shards[fnv1a(key) % shards.length]!;
      try {
        await writer.put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value: { i } });
        acked.set(key, i);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ERR_STORE_UNAVAILABLE', String(e));
        refused.push(key);
      }
      repl.notify('sh-a');
      await systemClock.sleep(pauseMs);
    }
  };
  // writes in flight when it crashes: some acknowledged just before, some refused
  const before = writeSome(150, 1);
  await until(() => i >= 100, '100 writes');
  pg.crash();
  await before;
  await writeSome(20, 5);
  assert.ok(refused.length > 0, 'no write was refused while the database was down');
  pg.start();
  await writeSome(50, 2);
  // after recovery: every acknowledged write is in the origin, then in every zone
  for (const [key, n] of acked) assert.deepEqual((await writer.get('profiles', key))?.value, { i: n }, key);
  const last = await writer.lastSeq();
  for (const dest of ZONES.filter((z) => z !== 'sh-a')) {
    const store = stores.get(dest)!;
    await until(async () => (await store.cursor('sh-a')).valueOf() >= last, `${dest} applying up to ${last}`);
    const have = new Set((await store.list('profiles', 'pc-', 10_000)).map((r) => r.key));
    for (const key of acked.keys()) assert.ok(have.has(key), `${dest} lacks acknowledged ${key}`);
    // and the same records as the origin (a write refused in doubt but committed is everywhere too)
    assert.deepEqual([...have].sort(), (await writer.list('profiles', 'pc-', 10_000)).map((r) => r.key).sort(), dest);
  }
});
