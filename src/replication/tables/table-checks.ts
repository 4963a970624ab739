import type pg from 'pg';
import type { ReplicatedTableConfig } from '../../topology/index.ts';
import { replicationErrors } from '../errors.ts';
import { splitName } from './table-sql.ts';

/** A replicated table as checked in a zone's database. */
export interface ResolvedTable {
  /** As configured: `table` or `schema.table`. */
  name: string;
  schema: string;
  table: string;
  /** Key columns in order (the primary key unless `key:` names them). */
  key: string[];
  /**
   * The columns replication writes, with their types, in table order: every column but the
   * generated ones, which each zone's database computes itself (logical decoding does not
   * carry them, and PostgreSQL refuses a value for them). `always`: an identity column
   * `GENERATED ALWAYS`, which an update may not set (only inserts override it).
   */
  columns: { name: string; type: string; always?: boolean }[];
  /** Generated columns (`GENERATED ALWAYS AS … STORED`), compared across zones, never written. */
  generated: string[];
  config: ReplicatedTableConfig;
}

type Query = Pick<pg.ClientBase, 'query'>;

/**
 * `wal_level` must be `logical`: table replication reads each zone's database by logical
 * decoding. The setting result is read with `SHOW wal_level`.
 */
export async function checkWalLevel(db: Query, zone: string): Promise<void> {
  const r = await db.query<{ wal_level: string }>('SHOW wal_level');
  walLevelVerdict(r.rows[0]?.wal_level ?? 'unknown', zone);
}

/** Throws ERR_REPL_TABLES_WAL_LEVEL unless `level` is logical. */
export function walLevelVerdict(level: string, zone: string): void {
  if (level === 'logical') return;
  throw replicationErrors.ERR_REPL_TABLES_WAL_LEVEL(
    `replication.tables: zone ${zone}'s database runs with wal_level = ${level}; table replication needs wal_level = logical. ` +
      `Set it with ALTER SYSTEM SET wal_level = logical (or wal_level = logical in postgresql.conf) and restart PostgreSQL`,
    { details: { zone, wal_level: level } },
  );
}

/** A constraint of a replicated table that applies do not check (see uncheckedConstraints). */
export interface UncheckedConstraint {
  table: string;
  constraint: string;
  kind: 'foreign key' | 'deferrable unique' | 'deferrable exclusion';
}

/**
 * Foreign keys and deferrable unique or exclusion constraints of the replicated tables: they
 * are enforced by triggers, which do not fire under session_replication_role = replica, so a
 * change applied from another zone is not checked against them (as in PostgreSQL's own
 * subscriptions). Said at startup so a team is not surprised.
 */
export async function uncheckedConstraints(
  db: Query,
  tables: readonly ResolvedTable[],
): Promise<UncheckedConstraint[]> {
  const out: UncheckedConstraint[] = [];
  for (const t of tables) {
    const r = await db.query<{ conname: string; contype: string }>(
      `SELECT c.conname, c.contype FROM pg_constraint c
         JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE n.nspname = $1 AND r.relname = $2 AND (c.contype = 'f' OR (c.condeferrable AND c.contype IN ('u', 'p', 'x')))
        ORDER BY c.conname`,
      [t.schema, t.table],
    );
    for (const c of r.rows)
      out.push({
        table: t.name,
        constraint: c.conname,
        kind: c.contype === 'f' ? 'foreign key' : c.contype === 'x' ? 'deferrable exclusion' : 'deferrable unique',
      });
  }
  return out;
}

/**
 * Checks each configured table in one zone's database: it exists, has a primary key (or the
 * configured key columns form a unique one), and is REPLICA IDENTITY FULL. Returns what it found.
 */
export async function checkTables(
  db: Query,
  zone: string,
  tables: readonly ReplicatedTableConfig[],
): Promise<ResolvedTable[]> {
  const out: ResolvedTable[] = [];
  for (const t of tables) {
    const [schema, table] = splitName(t.name);
    const rel = await db.query<{ oid: number; relreplident: string }>(
      `SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
      [schema, table],
    );
    const found = rel.rows[0];
    if (!found)
      throw replicationErrors.ERR_REPL_TABLES_NO_TABLE(
        `replication.tables: table ${schema}.${table} does not exist in zone ${zone}'s database`,
        { details: { zone, table: t.name } },
      );
    const all = await db.query<{ name: string; type: string; generated: boolean; always: boolean }>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attgenerated <> '' AS generated,
              a.attidentity = 'a' AS always
         FROM pg_attribute a
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [found.oid],
    );
    const stored = all.rows
      .filter((c) => !c.generated)
      .map(({ name, type, always }) => (always ? { name, type, always } : { name, type }));
    const generated = all.rows.filter((c) => c.generated).map((c) => `${c.name} ${c.type}`);
    const pk = await db.query<{ name: string }>(
      `SELECT a.attname AS name FROM pg_index i
         JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n`,
      [found.oid],
    );
    const pkCols = pk.rows.map((r) => r.name);
    if (pkCols.length === 0)
      throw replicationErrors.ERR_REPL_TABLES_NO_KEY(
        `replication.tables: table ${schema}.${table} in zone ${zone} has no primary key; every replicated table needs one (ALTER TABLE ${schema}.${table} ADD PRIMARY KEY (…))`,
        { details: { zone, table: t.name } },
      );
    const key = t.key ?? pkCols;
    if (t.key && (t.key.length !== pkCols.length || t.key.some((c, i) => c !== pkCols[i])))
      throw replicationErrors.ERR_REPL_TABLES_NO_KEY(
        `replication.tables: the key of ${t.name} (${t.key.join(', ')}) is not the primary key of ${schema}.${table} in zone ${zone} (${pkCols.join(', ')})`,
        { details: { zone, table: t.name } },
      );
    if (found.relreplident !== 'f')
      throw replicationErrors.ERR_REPL_TABLES_IDENTITY(
        `replication.tables: table ${schema}.${table} in zone ${zone} is not REPLICA IDENTITY FULL; run ALTER TABLE ${schema}.${table} REPLICA IDENTITY FULL ` +
          '(old rows and unchanged TOAST values are then decoded; multizone never changes your schema itself)',
        { details: { zone, table: t.name } },
      );
    for (const c of [...key, ...shardColumn(t)]) {
      if (all.rows.some((r) => r.name === c && r.generated))
        throw replicationErrors.ERR_REPL_TABLES_GENERATED(
          `replication.tables: ${t.name} names column ${c}, a generated column of ${schema}.${table} in zone ${zone}; ` +
            'logical decoding does not carry generated values, so its key, shard, lww and merge columns must be stored ones',
          { details: { zone, table: t.name, column: c } },
        );
      if (!stored.some((r) => r.name === c))
        throw replicationErrors.ERR_REPL_TABLES_NO_KEY(
          `replication.tables: ${t.name} names column ${c}, which ${schema}.${table} in zone ${zone} does not have`,
          { details: { zone, table: t.name, column: c } },
        );
    }
    out.push({ name: t.name, schema, table, key, columns: stored, generated, config: t });
  }
  return out;
}

function shardColumn(t: ReplicatedTableConfig): string[] {
  const cols: string[] = [];
  if (t.shard && 'column' in t.shard) cols.push(t.shard.column);
  if (typeof t.conflict === 'object' && t.conflict.lww) cols.push(t.conflict.lww);
  if (typeof t.conflict === 'object' && 'merge' in t.conflict) cols.push(...Object.keys(t.conflict.merge));
  return cols;
}

/** The tables must match across zones (DDL is not replicated): same columns, same types, same key. */
export function compareZones(
  a: { zone: string; tables: ResolvedTable[] },
  b: { zone: string; tables: ResolvedTable[] },
) {
  for (const ta of a.tables) {
    const tb = b.tables.find((t) => t.name === ta.name);
    const sig = (t: ResolvedTable) =>
      `${t.columns.map((c) => `${c.name} ${c.type}`).join(', ')}; key ${t.key.join(', ')}` +
      (t.generated.length ? `; generated ${t.generated.join(', ')}` : '');
    if (!tb || sig(ta) !== sig(tb))
      throw replicationErrors.ERR_REPL_TABLES_MISMATCH(
        `replication.tables: table ${ta.name} differs between zones ${a.zone} (${sig(ta)}) and ${b.zone} (${tb ? sig(tb) : 'missing'}); DDL is not replicated, change every zone alike`,
        { details: { table: ta.name, zones: [a.zone, b.zone] } },
      );
  }
}
