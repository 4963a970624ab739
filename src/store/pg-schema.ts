import type pg from 'pg';
import { storeErrors } from './errors.ts';
import type { PgConnection } from './pg-connection.ts';
import { applyFunctionSql, writeFunctionSql } from './pg-functions.ts';
import { ident } from './sql-text.ts';

/**
 * Checks the server's durability setting, then creates (or migrates) the zone's schema, tables
 * and functions, and claims the schema for the zone (ERR_STORE_ZONE_MISMATCH when another holds it).
 */
export async function ensureSchema(conn: PgConnection, zone: string): Promise<void> {
  const { t, schema } = conn;
  const sync = (await conn.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit as string;
  if (sync === 'off')
    throw storeErrors.ERR_STORE_UNSAFE_DURABILITY(
      'PostgreSQL has synchronous_commit=off: a crash can lose acknowledged commits; turn it on for zone stores',
    );
  const s = ident(schema);
  await conn.tx(async (c) => {
    // one schema per zone; advisory lock so two processes creating it at once don't race
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [schema]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${t('meta')} (k text PRIMARY KEY, v text NOT NULL)`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${t('seqs')} (id int PRIMARY KEY, last bigint NOT NULL)`);
    await c.query(`INSERT INTO ${t('seqs')} (id, last) VALUES (1, 0) ON CONFLICT DO NOTHING`);
    // keys compare bytewise (COLLATE "C"): the order SQLite and list() use, and no locale
    // collation on every index descent
    await c.query(`CREATE TABLE IF NOT EXISTS ${t('records')} (
        resource text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, shard int NOT NULL, cls text NOT NULL,
        value jsonb NOT NULL, deleted boolean NOT NULL, vv jsonb NOT NULL, version bigint NOT NULL,
        origin text NOT NULL, time double precision NOT NULL, locked boolean NOT NULL DEFAULT false,
        candidates jsonb, locked_at double precision, PRIMARY KEY (resource, key))`);
    await migrateRecords(conn, c);
    // by shard only (anti-entropy reads a shard at a time and sorts it): an int index costs an
    // insert far less than (shard, resource, key) did
    await c.query(`CREATE INDEX IF NOT EXISTS records_by_shard ON ${t('records')} (shard)`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${t('changelog')} (
        seq bigint PRIMARY KEY, shard int NOT NULL, epoch int NOT NULL, cls text NOT NULL,
        resource text NOT NULL, key text NOT NULL, value jsonb NOT NULL, deleted boolean NOT NULL,
        vv jsonb NOT NULL, version bigint NOT NULL, time double precision NOT NULL)`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS ${t('cursors')} (origin text PRIMARY KEY, seq bigint NOT NULL, time double precision NOT NULL)`,
    );
    await c.query(writeFunctionSql(t));
    await c.query(`DROP FUNCTION IF EXISTS ${t('apply_batch')}(text, jsonb, bigint, double precision)`);
    await c.query(applyFunctionSql(t));
    const owner = (await c.query(`SELECT v FROM ${t('meta')} WHERE k = 'zone'`)).rows[0]?.v as string | undefined;
    if (owner === undefined) await c.query(`INSERT INTO ${t('meta')} (k, v) VALUES ('zone', $1)`, [zone]);
    else if (owner !== zone)
      throw storeErrors.ERR_STORE_ZONE_MISMATCH(`schema ${schema} holds zone ${owner}, not ${zone}`);
  });
}

/**
 * Schemas made before keys were COLLATE "C" and the shard index was (shard) alone: change the
 * columns (PostgreSQL rebuilds the primary key) and drop the old index. Runs under ensureSchema's lock.
 */
async function migrateRecords(conn: PgConnection, c: pg.PoolClient): Promise<void> {
  const { t, schema } = conn;
  const r = await c.query(
    `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'records'
         AND column_name IN ('resource', 'key') AND collation_name IS DISTINCT FROM 'C'`,
    [schema],
  );
  if (r.rows[0].n > 0)
    await c.query(
      `ALTER TABLE ${t('records')} ALTER COLUMN resource TYPE text COLLATE "C", ALTER COLUMN key TYPE text COLLATE "C"`,
    );
  await c.query(`DROP INDEX IF EXISTS ${ident(schema)}.records_shard`);
}
