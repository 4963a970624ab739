import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { MemoryFence, PgStore } from '../../../src/store/index.ts';
import { startTcpProxy } from '../../support/tcp-proxy.ts';
import { pgUrl, reachable } from './services.ts';
import { depsFor, storeContract, storeTestTopology } from './store.contract.ts';

storeContract('postgres', async () => {
  if (!(await reachable('postgres'))) return undefined;
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 4 });
  const suffix = Math.floor(Math.random() * 1e9).toString(36);
  const schemas = new Set<string>();
  return {
    open: async (deps, where) => {
      const schema = `mzt_${suffix}_${where.ns}_${where.zone.replace(/-/g, '_')}`;
      schemas.add(schema);
      return PgStore.open({ ...deps, connection: pool, schema });
    },
    cleanup: async () => {
      for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      await pool.end();
    },
    around: async (store, sql) => {
      const c = await pool.connect();
      try {
        await c.query(`SET search_path TO "${(store as PgStore).schema}"`);
        await c.query(sql);
      } finally {
        await c.query('RESET search_path');
        c.release();
      }
    },
  };
});

test('a schema made before keys were COLLATE "C" is migrated on open, records kept', async (t) => {
  if (!(await reachable('postgres'))) return t.skip('no PostgreSQL');
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  const schema = `mzt_mig_${Math.floor(Math.random() * 1e9).toString(36)}`;
  try {
    // the records table and shard index as earlier versions created them
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(`CREATE TABLE "${schema}".records (
        resource text NOT NULL, key text NOT NULL, shard int NOT NULL, cls text NOT NULL,
        value jsonb NOT NULL, deleted boolean NOT NULL, vv jsonb NOT NULL, version bigint NOT NULL,
        origin text NOT NULL, time double precision NOT NULL, locked boolean NOT NULL DEFAULT false,
        candidates jsonb, locked_at double precision, PRIMARY KEY (resource, key))`);
    await pool.query(`CREATE INDEX records_shard ON "${schema}".records (shard, resource, key)`);
    await pool.query(`INSERT INTO "${schema}".records (resource, key, shard, cls, value, deleted, vv, version, origin, time)
      VALUES ('profiles', 'u1', 3, 'sharded', '{"name":"old"}', false, '{"sh-a":1}', 1, 'sh-a', 1)`);
    const topology = storeTestTopology();
    const deps = depsFor('sh-a', topology, new MemoryFence(topology.initialOwners()));
    const store = await PgStore.open({ ...deps, connection: pool, schema });
    const cols = await pool.query(
      `SELECT column_name, collation_name FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'records' AND column_name IN ('resource', 'key') ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      cols.rows.map((r) => [r.column_name, r.collation_name]),
      [
        ['key', 'C'],
        ['resource', 'C'],
      ],
    );
    const idx = await pool.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'records' ORDER BY 1`,
      [schema],
    );
    assert.deepEqual(
      idx.rows.map((r) => r.indexname),
      ['records_by_shard', 'records_pkey'],
    );
    assert.deepEqual((await store.get('profiles', 'u1'))?.value, { name: 'old' });
    assert.deepEqual(
      (await store.shardRecords(3)).map((r) => r.key),
      ['u1'],
    );
    await store.close();
    // opening again finds nothing to migrate
    await (await PgStore.open({ ...deps, connection: pool, schema })).close();
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
});

test('apply: a batch of new keys and one that exists is applied whole (the plain insert gives way to the upsert)', async (t) => {
  if (!(await reachable('postgres'))) return t.skip('no PostgreSQL');
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  const suffix = Math.floor(Math.random() * 1e9).toString(36);
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const a = await PgStore.open({
    ...depsFor('sh-a', topology, fence),
    connection: pool,
    schema: `mzt_plain_${suffix}_a`,
  });
  const b = await PgStore.open({
    ...depsFor('sh-b', topology, fence),
    connection: pool,
    schema: `mzt_plain_${suffix}_b`,
  });
  try {
    const put = (key: string, value: unknown) => a.put({ resource: 'profiles', key, shard: 1, epoch: 1, value });
    await put('k1', 1);
    await put('k2', 2);
    assert.equal((await b.apply('sh-a', await a.changesAfter(0, 10), 2)).applied, 2);
    // k1 again (a newer version) among new keys: the plain INSERT meets k1 and gives way
    await put('k3', 3);
    await put('k1', 11);
    await put('k4', 4);
    const r = await b.apply('sh-a', await a.changesAfter(2, 10), 5);
    assert.deepEqual([r.applied, r.cursor], [3, 5]);
    for (const [k, v] of [
      ['k1', 11],
      ['k2', 2],
      ['k3', 3],
      ['k4', 4],
    ] as const)
      assert.equal((await b.get('profiles', k))?.value, v, k);
    // the next batches (upserts for a while, then plain again) apply as well
    for (let i = 0; i < 20; i++) await put(`n${i}`, i);
    for (let from = 5; from < 25; from += 2) await b.apply('sh-a', await a.changesAfter(from, 2), from + 2);
    assert.equal(await b.cursor('sh-a'), 25);
    assert.equal((await b.list('profiles', 'n')).length, 20);
  } finally {
    await a.dropSchema();
    await b.dropSchema();
    await a.close();
    await b.close();
    await pool.end();
  }
});

test('PostgreSQL cut off and back: the store does not crash the process, fails while cut, works after', async (t) => {
  if (!(await reachable('postgres'))) return t.skip('no PostgreSQL');
  const u = new URL(pgUrl());
  const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  u.host = `127.0.0.1:${proxy.port}`;
  const topology = storeTestTopology();
  const schema = `mzt_cut_${Math.floor(Math.random() * 1e9).toString(36)}`;
  // the store's own pool (a connection string), as `multizone up` opens it
  const told: string[] = [];
  const store = await PgStore.open({
    ...depsFor('sh-a', topology, new MemoryFence(topology.initialOwners())),
    connection: u.toString(),
    schema,
    onError: (e) => told.push((e as { code?: string }).code ?? '?'),
  });
  try {
    const put = (key: string) => store.put({ resource: 'profiles', key, shard: 1, epoch: 1, value: { key } });
    await put('before');
    // the pooled connection sits idle when the database goes away
    proxy.cut();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(told, ['ERR_STORE_UNAVAILABLE']);
    // while cut: a clear error (the router's 503), for a write, a read and a transaction
    await assert.rejects(put('during'), { code: 'ERR_STORE_UNAVAILABLE' });
    await assert.rejects(store.get('profiles', 'before'), { code: 'ERR_STORE_UNAVAILABLE' });
    await assert.rejects(store.repair([]), { code: 'ERR_STORE_UNAVAILABLE' });
    proxy.heal();
    await put('after');
    assert.deepEqual(
      (await store.list('profiles', '')).map((r) => r.key),
      ['after', 'before'],
    );
  } finally {
    await store.dropSchema().catch(() => {});
    await store.close();
    await proxy.close();
  }
});
