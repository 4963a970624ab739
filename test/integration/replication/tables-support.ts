/**
 * Helpers for the table replication contract tests: one database per zone on the machine's
 * PostgreSQL (127.0.0.1:5432, user postgres), named mz_t17b_<random>_<zone>, dropped after
 * (with the slots and replication origins, which belong to the server, not the database).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { systemClock } from '../../../src/core/clock.ts';
import type { Logger } from '../../../src/core/logger.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { MemoryLog } from '../../../src/replication/index.ts';
import { TableReplication } from '../../../src/replication/tables/table-replication.ts';
import type { TableOwnership } from '../../../src/replication/tables/table-shard.ts';
import type { ReplicatedTableConfig } from '../../../src/topology/index.ts';

export const PG_ADMIN = process.env.MZ_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when PostgreSQL answers; in CI (CI=true) a missing server is a failure, not a skip. */
export async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch (e) {
    if (process.env.CI === 'true')
      throw new Error(`PostgreSQL is needed at ${PG_ADMIN} in CI: ${(e as Error).message}`);
    return false;
  }
}

/** Every zone owns everything (no misrouting) unless a test says otherwise. */
export function ownsAll(zone: string): TableOwnership {
  return { owner: () => ({ zone, epoch: 1 }), shardCount: 16, hash: 'fnv1a' };
}

export interface TablesCluster {
  zones: string[];
  tr: TableReplication;
  log: MemoryLog;
  db(zone: string): pg.Pool;
  url(zone: string): string;
  /** Restarts the whole replication (decoders and appliers) as a crashed process would come back. */
  /** Stops and starts replication; `freshLog`: with a new in-process log, as a process restart has. */
  restart(opts?: { freshLog?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** Creates one database per zone, runs `ddl` in each, and starts table replication over an in-process log. */
export async function tablesCluster(o: {
  zones: string[];
  ddl: string;
  tables: ReplicatedTableConfig[];
  ownership?: (zone: string) => TableOwnership;
  batchMax?: number;
  /** replication.tables.refusedAfterMs (default 5000). */
  refusedAfterMs?: number | 'never';
  start?: boolean;
  /** The server's admin URL (default: the machine's PostgreSQL). */
  admin?: string;
  logger?: Logger;
}): Promise<TablesCluster> {
  const adminUrl = o.admin ?? PG_ADMIN;
  const tag = randomBytes(4).toString('hex');
  const dbName = (z: string) => `mz_t17b_${tag}_${z.replace(/-/g, '_')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => {}); // a test may crash the server under it
  await admin.connect();
  const base = new URL(adminUrl);
  const url = (z: string) => {
    const u = new URL(base);
    u.pathname = `/${dbName(z)}`;
    return u.toString();
  };
  const pools = new Map<string, pg.Pool>();
  for (const z of o.zones) {
    await admin.query(`CREATE DATABASE ${dbName(z)}`);
    const p = new pg.Pool({ connectionString: url(z), max: 4 });
    p.on('error', () => {});
    pools.set(z, p);
    await p.query(o.ddl);
  }
  const newLog = () => new MemoryLog({ clock: systemClock, random: seededRandom(17) });
  let log = newLog();
  const make = () =>
    new TableReplication({
      config: {
        url: `${adminUrl.replace(/\/[^/]*$/, '')}/mz_t17b_${tag}_{zone_}`,
        tables: o.tables,
        batchMax: o.batchMax ?? 1000,
        refusedAfterMs: o.refusedAfterMs ?? 5000,
      },
      zones: o.zones,
      allZones: o.zones,
      log,
      clock: systemClock,
      ownership: o.ownership ?? ownsAll,
      ...(o.logger ? { logger: o.logger } : {}),
    });
  const c: TablesCluster = {
    zones: o.zones,
    tr: make(),
    log,
    db: (z) => pools.get(z)!,
    url,
    async restart(opts) {
      await c.tr.stop();
      if (opts?.freshLog) {
        log = newLog();
        c.log = log;
      }
      c.tr = make();
      await c.tr.start();
    },
    async close() {
      await c.tr.stop().catch(() => {});
      for (const p of pools.values()) await p.end().catch(() => {});
      for (const z of o.zones) await dropZoneDatabase(admin, dbName(z));
      await admin.end();
    },
  };
  if (o.start !== false) await c.tr.start();
  return c;
}

/** Drops a zone's database with its slots and replication origins (they belong to the server, not the database). */
export async function dropZoneDatabase(admin: pg.Client, name: string): Promise<void> {
  await admin
    .query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1', [name])
    .catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  await admin
    .query("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE '%@' || $1", [name])
    .catch(() => {});
}

/** Polls `f` until it returns true (every 20 ms, up to `ms`). */
export async function until(f: () => Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    if (await f()) return;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
