import pg from 'pg';
import { storeErrors } from './errors.ts';
import type {
  ApplyResult,
  Change,
  Conflict,
  RecordState,
  RecordView,
  ShardDigests,
  Store,
  WriteRequest,
  WriteResult,
} from './types.ts';
import { DIGEST_PAGE, digestByShard, PRESENT_SHARDS_SQL, reconcile, stateDigest, stateOfChange } from './versions.ts';
import {
  conflictOf,
  type PlannedWrite,
  parseConflictId,
  planResolve,
  planWrite,
  type StoreDeps,
} from './write-plan.ts';

/** Options of the PostgreSQL adapter: one schema per zone. */
export interface PgStoreOptions extends StoreDeps {
  /** A connection string (postgres://…) or an existing pool (not closed by close()). */
  connection: string | pg.Pool;
  /** Schema for this zone's tables; default `mz_<zone>` with dashes as underscores. */
  schema?: string;
  /** Pool size when a connection string is given. */
  poolSize?: number;
  /**
   * Told of a pooled connection that broke while idle (the server restarted, the network
   * dropped): the pool discards it and the next query connects afresh. Only for the store's own
   * pool (a connection string); whoever passes a pool listens to its 'error' events.
   */
  onError?: (e: Error) => void;
}

/**
 * Errors that say the database could not be reached or the connection broke (node errno, a
 * dropped connection, SQLSTATE class 08 or an operator/crash shutdown 57P01–57P03), as opposed
 * to an error the database gave about the statement.
 */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_ERRNOS.has(code) || /^(08|57P0[123])/.test(code))) return true;
  return /^Connection terminated|^connection timeout|Client has encountered a connection error/i.test(e.message);
}

interface Row {
  resource: string;
  key: string;
  shard: number;
  cls: string;
  value: unknown;
  deleted: boolean;
  vv: Record<string, number>;
  version: string;
  origin: string;
  time: number;
  locked: boolean;
  candidates: RecordState['candidates'] | null;
  locked_at: number | null;
}

function toState(r: Row): RecordState {
  return {
    resource: r.resource,
    key: r.key,
    shard: r.shard,
    cls: r.cls as RecordState['cls'],
    value: r.value,
    deleted: r.deleted,
    vv: r.vv,
    version: Number(r.version),
    origin: r.origin,
    time: r.time,
    locked: r.locked,
    candidates: r.candidates ?? [],
  };
}

/** Quotes an identifier for SQL. */
function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * A string as an escape-string literal (E'…'): quotes and backslashes doubled, so it reads the
 * same whatever standard_conforming_strings says. Used to fold a whole batch into one
 * simple-protocol query string (BEGIN and COMMIT ride along, saving round trips).
 */
export function sqlLiteral(s: string): string {
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A number for SQL text; anything else (say a malformed seq from the log) is refused, never spliced in. */
function num(x: unknown): number {
  const n = typeof x === 'number' ? x : Number.NaN;
  if (!Number.isFinite(n)) throw storeErrors.ERR_STORE_BAD_CHANGE(`expected a number, got ${String(x).slice(0, 40)}`);
  return n;
}

/**
 * After a batch whose plain INSERT met an existing key, this many batches go straight to the
 * upsert (an update-heavy workload would otherwise pay a failed insert per batch).
 */
const PLAIN_RETRY_AFTER = 16;

/** SQLSTATE apply_batch raises when a change needs the general apply (rolled back, nothing written). */
const NEEDS_RECONCILE = 'MZ409';

/**
 * True when apply_batch may take the batch: seqs strictly ascending integers; no key twice (a
 * later change to a key would be compared with the stored record instead of the earlier change,
 * and one upsert cannot touch a row twice); version vectors of non-negative integers summing to
 * the change's version (what reconcile() would store); fields of the types the function reads.
 * Anything else goes the general way, which refuses or reconciles it as before.
 */
function inSqlShape(changes: readonly Change[]): boolean {
  let last = Number.NEGATIVE_INFINITY;
  const keys = new Set<string>();
  for (const c of changes) {
    if (!Number.isSafeInteger(c.seq) || c.seq <= last) return false;
    last = c.seq;
    const id = `${c.resource}\u0000${c.key}`;
    if (keys.has(id)) return false;
    keys.add(id);
    if (typeof c.resource !== 'string' || typeof c.key !== 'string' || typeof c.origin !== 'string') return false;
    if (typeof c.cls !== 'string' || typeof c.deleted !== 'boolean' || !Number.isInteger(c.shard)) return false;
    if (!Number.isFinite(c.time) || c.vv === null || typeof c.vv !== 'object' || Array.isArray(c.vv)) return false;
    let sum = 0;
    for (const k in c.vv) {
      const n = c.vv[k];
      if (!Number.isSafeInteger(n) || n! < 0) return false;
      sum += n!;
    }
    if (sum !== c.version) return false;
  }
  return true;
}

/**
 * A batch as apply_batch takes it (changeRows), or no rows when it is not in SQL shape —
 * worked out once per batch: the zones of one process share a received batch (the in-process
 * log, and JetStreamLog's decoded messages), so three local destinations encode it once. Kept
 * on the array as a non-enumerable property (see SqliteStore's JSON_TEXT for why not a WeakMap).
 */
const ENCODED = Symbol('mz.pgBatch');
interface Encoded {
  /** The changes it was made from: an array refilled since is encoded afresh. */
  of: readonly Change[];
  rows?: string;
}
function encodedBatch(changes: readonly Change[]): Encoded {
  const held = (changes as { [ENCODED]?: Encoded })[ENCODED];
  if (held && held.of.length === changes.length && held.of.every((c, i) => c === changes[i])) return held;
  const enc: Encoded = { of: [...changes], rows: inSqlShape(changes) ? changeRows(changes) : undefined };
  if (Object.isExtensible(changes))
    Object.defineProperty(changes, ENCODED, { value: enc, configurable: true, writable: true });
  return enc;
}

/** Rows as one jsonb literal, read back in SQL with jsonb_to_recordset. */
function jsonRows(rows: readonly object[]): string {
  return `${sqlLiteral(JSON.stringify(rows))}::jsonb`;
}

/**
 * Changes as JSON for write_changes and apply_batch: an array per change, not an object —
 * PostgreSQL's jsonb input spends most of its time on object keys (50 changes: ~0.35 ms as
 * objects, ~0.15 ms as arrays, measured here). Positions are read by CHANGE_COLUMNS.
 */
function changeRows(changes: readonly Change[], valueJson?: readonly (string | undefined)[]): string {
  const j = JSON.stringify;
  const rows: string[] = new Array(changes.length);
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    // a local write's value was encoded already, to measure it (planWrite): not encoded again
    const value = valueJson?.[i] ?? j(c.value ?? null);
    rows[i] =
      `[${j(c.seq)},${j(c.epoch)},${j(c.shard)},${j(c.cls)},${j(c.resource)},${j(c.key)},${value},` +
      `${j(c.deleted)},${j(c.vv)},${j(c.version)},${j(c.time)},${j(c.origin)}]`;
  }
  return `[${rows.join(',')}]`;
}

/**
 * A zone store on PostgreSQL (node `pg`), the distributed choice. Every mutating
 * transaction first locks the zone's sequence row, so change-log sequence numbers commit
 * in order (no gap a shipper could skip past) and no write reads a record another
 * in-flight transaction is changing. Refuses to start if commits could be acknowledged
 * before they are durable (`synchronous_commit=off`).
 */
export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  readonly zone: string;
  readonly schema: string;
  private closed = false;

  private constructor(
    private readonly deps: StoreDeps,
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    schema: string,
  ) {
    this.zone = deps.zone;
    this.schema = schema;
  }

  /** Connects, checks durability settings, creates the zone's schema if needed. */
  static async open(opts: PgStoreOptions): Promise<PgStore> {
    const ownsPool = typeof opts.connection === 'string';
    const pool =
      typeof opts.connection === 'string'
        ? new pg.Pool({ connectionString: opts.connection, max: opts.poolSize ?? 8 })
        : opts.connection;
    // an idle pooled connection that breaks is emitted as 'error' on the pool: with no
    // listener that is an uncaught exception, which would take the whole zone process down
    if (ownsPool)
      pool.on('error', (e) =>
        opts.onError?.(
          storeErrors.ERR_STORE_UNAVAILABLE(
            `store of ${opts.zone}: an idle PostgreSQL connection broke (${e.message})`,
            {
              cause: e,
            },
          ),
        ),
      );
    const schema = opts.schema ?? `mz_${opts.zone.replace(/-/g, '_')}`;
    const store = new PgStore(opts, pool, ownsPool, schema);
    try {
      await store.init();
    } catch (e) {
      if (ownsPool) await pool.end();
      throw e;
    }
    return store;
  }

  private t(name: string): string {
    return `${ident(this.schema)}.${name}`;
  }

  private async init(): Promise<void> {
    const sync = (await this.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit as string;
    if (sync === 'off')
      throw storeErrors.ERR_STORE_UNSAFE_DURABILITY(
        'PostgreSQL has synchronous_commit=off: a crash can lose acknowledged commits; turn it on for zone stores',
      );
    const s = ident(this.schema);
    await this.tx(async (c) => {
      // one schema per zone; advisory lock so two processes creating it at once don't race
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.schema]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('meta')} (k text PRIMARY KEY, v text NOT NULL)`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('seqs')} (id int PRIMARY KEY, last bigint NOT NULL)`);
      await c.query(`INSERT INTO ${this.t('seqs')} (id, last) VALUES (1, 0) ON CONFLICT DO NOTHING`);
      // keys compare bytewise (COLLATE "C"): the order SQLite and list() use, and no locale
      // collation on every index descent
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('records')} (
        resource text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, shard int NOT NULL, cls text NOT NULL,
        value jsonb NOT NULL, deleted boolean NOT NULL, vv jsonb NOT NULL, version bigint NOT NULL,
        origin text NOT NULL, time double precision NOT NULL, locked boolean NOT NULL DEFAULT false,
        candidates jsonb, locked_at double precision, PRIMARY KEY (resource, key))`);
      await this.migrateRecords(c);
      // by shard only (anti-entropy reads a shard at a time and sorts it): an int index costs an
      // insert far less than (shard, resource, key) did
      await c.query(`CREATE INDEX IF NOT EXISTS records_by_shard ON ${this.t('records')} (shard)`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('changelog')} (
        seq bigint PRIMARY KEY, shard int NOT NULL, epoch int NOT NULL, cls text NOT NULL,
        resource text NOT NULL, key text NOT NULL, value jsonb NOT NULL, deleted boolean NOT NULL,
        vv jsonb NOT NULL, version bigint NOT NULL, time double precision NOT NULL)`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.t('cursors')} (origin text PRIMARY KEY, seq bigint NOT NULL, time double precision NOT NULL)`,
      );
      await c.query(this.writeFunctionSql());
      await c.query(`DROP FUNCTION IF EXISTS ${this.t('apply_batch')}(text, jsonb, bigint, double precision)`);
      await c.query(this.applyFunctionSql());
      const owner = (await c.query(`SELECT v FROM ${this.t('meta')} WHERE k = 'zone'`)).rows[0]?.v as
        | string
        | undefined;
      if (owner === undefined) await c.query(`INSERT INTO ${this.t('meta')} (k, v) VALUES ('zone', $1)`, [this.zone]);
      else if (owner !== this.zone)
        throw storeErrors.ERR_STORE_ZONE_MISMATCH(`schema ${this.schema} holds zone ${owner}, not ${this.zone}`);
    });
  }

  /**
   * Schemas made before keys were COLLATE "C" and the shard index was (shard) alone: change the
   * columns (PostgreSQL rebuilds the primary key) and drop the old index. Runs under init's lock.
   */
  private async migrateRecords(c: pg.PoolClient): Promise<void> {
    const r = await c.query(
      `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'records'
         AND column_name IN ('resource', 'key') AND collation_name IS DISTINCT FROM 'C'`,
      [this.schema],
    );
    if (r.rows[0].n > 0)
      await c.query(
        `ALTER TABLE ${this.t('records')} ALTER COLUMN resource TYPE text COLLATE "C", ALTER COLUMN key TYPE text COLLATE "C"`,
      );
    await c.query(`DROP INDEX IF EXISTS ${ident(this.schema)}.records_shard`);
  }

  /** The columns of a change as read from one element `e` (see changeRows) of a jsonb array. */
  private static readonly CHANGE_COLUMNS = `(e->>2)::int, e->>3, e->>4, e->>5, e->6, (e->>7)::boolean, e->8,
    (e->>9)::bigint, (e->>10)::double precision`;

  /**
   * `write_changes(changes)`: the second half of a local commit — the change-log rows, and each
   * key's last change as its record (a local write's new state is its change, unlocked). One
   * jsonb parse for both, and plans cached in the session instead of planned per commit.
   */
  private writeFunctionSql(): string {
    return `CREATE OR REPLACE FUNCTION ${this.t('write_changes')}(p_changes jsonb) RETURNS void LANGUAGE plpgsql
      SET enable_seqscan = off AS $fn$
      BEGIN
        INSERT INTO ${this.t('changelog')} (seq, epoch, shard, cls, resource, key, value, deleted, vv, version, time)
          SELECT (e->>0)::bigint, (e->>1)::int, ${PgStore.CHANGE_COLUMNS}
          FROM jsonb_array_elements(p_changes) e;
        INSERT INTO ${this.t('records')} (shard, cls, resource, key, value, deleted, vv, version, time, origin, locked,
            candidates, locked_at)
          SELECT DISTINCT ON (e->>4, e->>5) ${PgStore.CHANGE_COLUMNS}, e->>11, false, NULL, NULL
          FROM jsonb_array_elements(p_changes) e ORDER BY e->>4, e->>5, (e->>0)::bigint DESC
          ON CONFLICT (resource, key) DO UPDATE SET shard = excluded.shard, cls = excluded.cls, value = excluded.value,
            deleted = excluded.deleted, vv = excluded.vv, version = excluded.version, origin = excluded.origin,
            time = excluded.time, locked = false, candidates = NULL, locked_at = NULL;
      END $fn$`;
  }

  /**
   * `apply_batch(origin, changes, upTo, now)`: the common apply in one round trip. It takes the
   * sequence row like every mutating transaction, then upserts the changes after the cursor,
   * each only over a stored record that is unlocked and strictly older (its vector before the
   * change's) — the case where reconcile() stores the change as is — and moves the cursor.
   * When any change met something else (a concurrent, equal or newer version, a lock) it raises
   * NEEDS_RECONCILE, which undoes the whole call, and the caller reconciles in JavaScript. The
   * batch has no key twice (the caller checks). Its statements run in plpgsql, each with a
   * snapshot taken after the lock (one SQL statement would read with a snapshot from before it).
   *
   * With `p_plain` it first tries a plain INSERT of the changes, which is right when none of
   * their keys exists yet (new orders, comments, accounts): INSERT … ON CONFLICT pays for
   * speculative insertion on every row, a second index probe and WAL record — per batch of 50
   * new records, PostgreSQL CPU per apply fell ~0.15 ms and apply lag p50 at 5k writes/s
   * 0.3–0.7 ms (measured here). A key that exists raises unique_violation, which undoes just
   * that attempt (a subtransaction), and the upsert runs as without it. The result says which
   * ran (`plain`), so the caller can stop trying while keys keep existing.
   */
  private applyFunctionSql(): string {
    // compareVv(a, b) === 'before': no zone ahead in a, some zone ahead in b (missing = 0)
    const before = (a: string, b: string) =>
      `(NOT EXISTS (SELECT 1 FROM jsonb_each_text(${a}) x WHERE x.value::numeric > COALESCE((${b}->>x.key)::numeric, 0))
        AND EXISTS (SELECT 1 FROM jsonb_each_text(${b}) x WHERE x.value::numeric > COALESCE((${a}->>x.key)::numeric, 0)))`;
    const insert = `INSERT INTO ${this.t('records')} AS r (shard, cls, resource, key, value, deleted, vv, version,
            time, origin, locked, candidates, locked_at)
          SELECT ${PgStore.CHANGE_COLUMNS}, e->>11, false, NULL, NULL
          FROM jsonb_array_elements(p_changes) e WHERE (e->>0)::bigint > v_cursor`;
    return `CREATE OR REPLACE FUNCTION ${this.t('apply_batch')}(p_origin text, p_changes jsonb, p_up_to bigint,
        p_now double precision, p_plain boolean) RETURNS jsonb LANGUAGE plpgsql
      -- plpgsql caches plans: one made while the table was small would keep scanning it whole
      SET enable_seqscan = off AS $fn$
      DECLARE
        v_cursor bigint;
        v_done bigint;
        v_want bigint;
        v_plain boolean := false;
      BEGIN
        PERFORM 1 FROM ${this.t('seqs')} WHERE id = 1 FOR UPDATE;
        SELECT seq INTO v_cursor FROM ${this.t('cursors')} WHERE origin = p_origin;
        v_cursor := COALESCE(v_cursor, 0);
        IF p_plain THEN
          BEGIN
            ${insert};
            GET DIAGNOSTICS v_done = ROW_COUNT;
            v_want := v_done;
            v_plain := true;
          EXCEPTION WHEN unique_violation THEN
            v_plain := false;
          END;
        END IF;
        IF NOT v_plain THEN
          -- how many changes are after the cursor: the upsert must store every one of them
          SELECT count(*) INTO v_want FROM jsonb_array_elements(p_changes) e WHERE (e->>0)::bigint > v_cursor;
          ${insert}
          ON CONFLICT (resource, key) DO UPDATE SET shard = excluded.shard, cls = excluded.cls, value = excluded.value,
            deleted = excluded.deleted, vv = excluded.vv, version = excluded.version, origin = excluded.origin,
            time = excluded.time, locked = false, candidates = NULL, locked_at = NULL
          WHERE NOT r.locked AND ${before('r.vv', 'excluded.vv')};
          GET DIAGNOSTICS v_done = ROW_COUNT;
        END IF;
        IF v_done < v_want THEN
          RAISE EXCEPTION 'a change needs reconciling' USING ERRCODE = '${NEEDS_RECONCILE}';
        END IF;
        -- p_up_to is at least the batch's last seq (the caller sees to it)
        v_cursor := GREATEST(v_cursor, p_up_to);
        UPDATE ${this.t('cursors')} SET seq = v_cursor, time = p_now WHERE origin = p_origin;
        IF NOT FOUND THEN
          INSERT INTO ${this.t('cursors')} (origin, seq, time) VALUES (p_origin, v_cursor, p_now);
        END IF;
        RETURN jsonb_build_object('applied', v_done, 'cursor', v_cursor, 'plain', v_plain);
      END $fn$`;
  }

  /** A connection error as ERR_STORE_UNAVAILABLE (the router answers 503); any other error as it is. */
  private unavailable(e: unknown): unknown {
    if (!isConnectionError(e)) return e;
    return storeErrors.ERR_STORE_UNAVAILABLE(
      `store of ${this.zone}: PostgreSQL cannot be reached (${(e as Error).message})`,
      { cause: e },
    );
  }

  /** pool.query, with connection errors as ERR_STORE_UNAVAILABLE. */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    q: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(q as string, values);
    } catch (e) {
      throw this.unavailable(e);
    }
  }

  private live(): void {
    if (this.closed) throw storeErrors.ERR_STORE_CLOSED(`store of ${this.zone} is closed`);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.folded(async (c) => {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    });
  }

  /**
   * A transaction whose BEGIN and COMMIT ride in the first and last query string (`fn` sends
   * them): a write or an apply is two round trips instead of five. A failed statement stops
   * its query string, so COMMIT never runs after an error; the transaction is rolled back.
   */
  private async folded<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.unavailable(e);
    }
    // A connection that ends while the client is checked out is also emitted as 'error' on
    // the client (the pool listens only while it is idle, pool.query while it runs one query):
    // unheard, that is an uncaught exception (a PostgreSQL crash took the process down with
    // it). Its queries fail too, which is how fn learns of it.
    let broken: Error | undefined;
    const onError = (e: Error) => {
      broken = e;
    };
    c.on('error', onError);
    try {
      return await fn(c);
    } catch (e) {
      if (isConnectionError(e)) broken ??= e as Error;
      else if (!broken) await c.query('ROLLBACK').catch(() => {});
      throw this.unavailable(e);
    } finally {
      c.off('error', onError);
      // a client whose connection broke is discarded (release(err)), not pooled again
      c.release(broken);
    }
  }

  /** SQL that reads many records by (resource, key); no parameters (the keys are one jsonb literal). */
  private readManySql(keys: readonly { resource: string; key: string }[]): string {
    const seen = new Set<string>();
    const rows: { resource: string; key: string }[] = [];
    for (const k of keys) {
      const id = `${k.resource}\u0000${k.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      rows.push({ resource: k.resource, key: k.key });
    }
    return `SELECT r.* FROM ${this.t('records')} r JOIN jsonb_to_recordset(${jsonRows(rows)}) AS k(resource text, key text)
       ON r.resource = k.resource AND r.key = k.key`;
  }

  private static byKey(rows: readonly Row[]): Map<string, RecordState> {
    const out = new Map<string, RecordState>();
    for (const row of rows) out.set(`${row.resource}\u0000${row.key}`, toState(row));
    return out;
  }

  /**
   * SQL that upserts record states in one statement (keeping locked_at while a record stays
   * locked). `prefix` is a WITH clause run in the same statement (the change-log insert or the
   * cursor update). All data travels in one jsonb literal.
   */
  private upsertSql(states: readonly RecordState[], prefix: string): string {
    const rows = states.map((s) => ({
      resource: s.resource,
      key: s.key,
      shard: s.shard,
      cls: s.cls,
      value: s.value ?? null,
      deleted: s.deleted,
      vv: s.vv,
      version: s.version,
      origin: s.origin,
      time: s.time,
      locked: s.locked,
      candidates: s.locked ? s.candidates : null,
    }));
    const now = num(this.deps.clock.wallTime());
    const r = this.t('records');
    return `${prefix}
      INSERT INTO ${r} (resource, key, shard, cls, value, deleted, vv, version, origin, time, locked, candidates, locked_at)
       SELECT u.resource, u.key, u.shard, u.cls, COALESCE(u.value, 'null'::jsonb), u.deleted, u.vv, u.version, u.origin, u.time,
              u.locked, u.candidates, CASE WHEN u.locked THEN ${now}::double precision END
       FROM jsonb_to_recordset(${jsonRows(rows)}) AS u(resource text, key text, shard int, cls text, value jsonb,
            deleted boolean, vv jsonb, version bigint, origin text, time double precision, locked boolean, candidates jsonb)
       ON CONFLICT (resource, key) DO UPDATE SET shard = excluded.shard, cls = excluded.cls, value = excluded.value,
         deleted = excluded.deleted, vv = excluded.vv, version = excluded.version, origin = excluded.origin,
         time = excluded.time, locked = excluded.locked, candidates = excluded.candidates,
         locked_at = CASE WHEN excluded.locked THEN COALESCE(${r}.locked_at, excluded.locked_at) END`;
  }

  /**
   * Recent committed changes of this store in seq order, so the shipper rarely reads the change
   * log back (PEERS.md: reading 4000 rows of jsonb back costs ~50 ms). It only ever holds a
   * contiguous run of seqs; a commit that does not follow on (another process writing this
   * schema, or commits finishing out of order) waits in `early` or restarts the run, and
   * changesAfter falls back to the table whenever the ring cannot prove it has the next seq.
   */
  private ring: Change[] = [];
  private readonly early = new Map<number, Change[]>();

  private remember(committed: Change[]): void {
    if (committed.length === 0) return;
    const last = this.ring[this.ring.length - 1];
    if (last && committed[0]!.seq <= last.seq) return;
    if (last && committed[0]!.seq !== last.seq + 1) {
      this.early.set(committed[0]!.seq, committed);
      if (this.early.size > 64) {
        this.ring = [];
        this.early.clear();
      }
      return;
    }
    for (const c of committed) this.ring.push(c);
    for (let next = this.early.get(this.ring[this.ring.length - 1]!.seq + 1); next; ) {
      this.early.delete(next[0]!.seq);
      for (const c of next) this.ring.push(c);
      next = this.early.get(this.ring[this.ring.length - 1]!.seq + 1);
    }
    if (this.ring.length > 20_000) this.ring = this.ring.slice(-10_000);
  }

  /** Plans and commits local writes (puts or a resolution) in one transaction (two round trips). */
  private async commit(
    keys: readonly { resource: string; key: string }[],
    plan: (read: (resource: string, key: string) => RecordState | undefined) => PlannedWrite[],
  ): Promise<WriteResult[]> {
    this.live();
    const n = keys.length;
    const committed: Change[] = [];
    const out = await this.folded(async (c) => {
      // every request yields exactly one change (or the whole transaction fails), so allocate the
      // seqs up front; the row lock also serialises this zone's writers, so the read after it
      // (its own statement, so its own snapshot) is current
      const res = (await c.query(
        `BEGIN; UPDATE ${this.t('seqs')} SET last = last + ${n} WHERE id = 1 RETURNING last; ${this.readManySql(keys)}`,
      )) as unknown as pg.QueryResult[];
      const base = Number(res[1]!.rows[0].last) - n;
      const cur = PgStore.byKey(res[2]!.rows as Row[]);
      // a planned state is its change (build() makes both from the same fields), so the records
      // are written from the changes: write_changes keeps each key's last
      const planned = plan((resource, key) => cur.get(`${resource}\u0000${key}`));
      const ch = planned.map((p, i) => ({ ...p.change, seq: base + i + 1 }) as Change);
      const rows = changeRows(
        ch,
        planned.map((p) => p.valueJson),
      );
      await c.query(`SELECT ${this.t('write_changes')}(${sqlLiteral(rows)}::jsonb); COMMIT`);
      for (const x of ch) committed.push(x);
      return ch.map((x) => ({ seq: x.seq, version: x.version, vv: x.vv }));
    });
    this.remember(committed);
    for (const l of this.listeners) l();
    return out;
  }

  private readonly listeners = new Set<() => void>();

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(resource: string, prefix: string, limit = 1000): Promise<RecordView[]> {
    this.live();
    const r = await this.query<Row>(
      `SELECT * FROM ${this.t('records')} WHERE resource = $1 AND starts_with(key, $2) AND (NOT deleted OR locked)
       ORDER BY key COLLATE "C" LIMIT $3`,
      [resource, prefix, limit],
    );
    return r.rows.map(toState);
  }

  async state(resource: string, key: string): Promise<RecordState | undefined> {
    this.live();
    const r = await this.query<Row>(`SELECT * FROM ${this.t('records')} WHERE resource = $1 AND key = $2`, [
      resource,
      key,
    ]);
    return r.rows[0] ? toState(r.rows[0]) : undefined;
  }

  async get(resource: string, key: string): Promise<RecordView | undefined> {
    const s = await this.state(resource, key);
    return s && (!s.deleted || s.locked) ? s : undefined;
  }

  async put(req: WriteRequest): Promise<WriteResult> {
    const [r] = await this.putMany([req]);
    return r!;
  }

  async putMany(reqs: readonly WriteRequest[]): Promise<WriteResult[]> {
    return this.commit(reqs, (read) => {
      const pending = new Map<string, RecordState>();
      return reqs.map((req) => {
        const k = `${req.resource}\u0000${req.key}`;
        const p = planWrite(this.deps, pending.get(k) ?? read(req.resource, req.key), req);
        pending.set(k, p.state);
        return p;
      });
    });
  }

  async resolve(id: string, pick: string): Promise<WriteResult> {
    const { resource, key } = parseConflictId(id);
    const [r] = await this.commit([{ resource, key }], (read) => [
      planResolve(this.deps, read(resource, key), id, pick),
    ]);
    return r!;
  }

  /** Batches left to apply by upsert before apply_batch tries a plain INSERT again. */
  private plainSkips = 0;

  async apply(origin: string, changes: readonly Change[], upTo = 0): Promise<ApplyResult> {
    this.live();
    const enc = encodedBatch(changes);
    if (enc.rows !== undefined && Number.isSafeInteger(upTo))
      try {
        const plain = this.plainSkips === 0;
        if (!plain) this.plainSkips--;
        const r = await this.query({
          // prepared once per connection: each apply is then a bind and an execute
          name: `mz_apply_${this.schema}`,
          text: `SELECT ${this.t('apply_batch')}($1, $2::jsonb, $3, $4, $5) AS r`,
          values: [
            origin,
            enc.rows,
            // the cursor moves to the last seq of the batch, or to upTo when that is further
            Math.max(upTo, changes.length ? changes[changes.length - 1]!.seq : 0),
            this.deps.clock.wallTime(),
            plain,
          ],
        });
        const out = r.rows[0]!.r as { applied: number; cursor: number; plain: boolean };
        // keys existed: upsert the next batches straight away, and try plain inserts again later
        if (plain && !out.plain) this.plainSkips = PLAIN_RETRY_AFTER;
        const { applied, cursor } = out;
        return { applied, duplicates: changes.length - applied, stale: 0, conflicts: 0, settled: 0, cursor };
      } catch (e) {
        if ((e as { code?: string }).code !== NEEDS_RECONCILE) throw e;
      }
    return this.applyReconciled(origin, changes, upTo);
  }

  /** The general apply: reads the records, reconciles each change in JavaScript, writes (two round trips). */
  private async applyReconciled(origin: string, changes: readonly Change[], upTo: number): Promise<ApplyResult> {
    const o = sqlLiteral(origin);
    return this.folded(async (c) => {
      // lock the zone's sequence row (serialises with local writes), read the cursor, then the
      // records (a later statement, so a snapshot taken after the lock): one round trip
      const res = (await c.query(
        `BEGIN; SELECT s.last, c.seq FROM ${this.t('seqs')} s LEFT JOIN ${this.t('cursors')} c ON c.origin = ${o}
         WHERE s.id = 1 FOR UPDATE OF s; ${this.readManySql(changes)}`,
      )) as unknown as pg.QueryResult[];
      const out: ApplyResult = { applied: 0, duplicates: 0, stale: 0, conflicts: 0, settled: 0, cursor: 0 };
      const cr = res[1]!.rows[0];
      let cursor = cr?.seq ? Number(cr.seq) : 0;
      const cur = PgStore.byKey(res[2]!.rows as Row[]);
      const dirty = new Map<string, RecordState>();
      for (const ch of changes) {
        if (ch.seq <= cursor) {
          out.duplicates++;
          continue;
        }
        cursor = num(ch.seq);
        const k = `${ch.resource}\u0000${ch.key}`;
        const { state, outcome } = reconcile(cur.get(k), stateOfChange(ch), this.deps.policies.policyOf(ch.resource));
        if (outcome === 'stale') {
          out.stale++;
          continue;
        }
        cur.set(k, state);
        dirty.set(k, state);
        if (outcome === 'applied') out.applied++;
        else if (outcome === 'conflict') out.conflicts++;
        else out.settled++;
      }
      cursor = Math.max(cursor, num(upTo));
      const sql = this.upsertSql(
        [...dirty.values()],
        `WITH cur AS (INSERT INTO ${this.t('cursors')} (origin, seq, time) VALUES (${o}, ${cursor}, ${num(this.deps.clock.wallTime())})
         ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, time = excluded.time)`,
      );
      await c.query(`${sql}; COMMIT`);
      out.cursor = cursor;
      return out;
    });
  }

  async cursor(origin: string): Promise<number> {
    this.live();
    const r = await this.query(`SELECT seq FROM ${this.t('cursors')} WHERE origin = $1`, [origin]);
    return r.rows[0] ? Number(r.rows[0].seq) : 0;
  }

  async cursors(): Promise<Record<string, number>> {
    this.live();
    const r = await this.query(`SELECT origin, seq FROM ${this.t('cursors')}`);
    return Object.fromEntries(r.rows.map((x) => [x.origin as string, Number(x.seq)]));
  }

  async changesAfter(afterSeq: number, limit: number): Promise<Change[]> {
    this.live();
    const first = this.ring[0];
    const last = this.ring[this.ring.length - 1];
    // the ring answers only when it holds afterSeq + 1 (it is contiguous, so the slice has no holes)
    if (first && last && first.seq <= afterSeq + 1 && afterSeq < last.seq) {
      const i = afterSeq + 1 - first.seq;
      return this.ring.slice(i, i + limit);
    }
    const r = await this.query(`SELECT * FROM ${this.t('changelog')} WHERE seq > $1 ORDER BY seq LIMIT $2`, [
      afterSeq,
      limit,
    ]);
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      origin: this.zone,
      shard: x.shard,
      epoch: x.epoch,
      cls: x.cls,
      resource: x.resource,
      key: x.key,
      value: x.value,
      deleted: x.deleted,
      vv: x.vv,
      version: Number(x.version),
      time: x.time,
    }));
  }

  async lastSeq(): Promise<number> {
    this.live();
    const r = await this.query(`SELECT last FROM ${this.t('seqs')} WHERE id = 1`);
    return Number(r.rows[0]?.last ?? 0);
  }

  async pruneChanges(throughSeq: number): Promise<number> {
    this.live();
    // the sequence lives in seqs, so even an empty change log never reuses a number
    const r = await this.query(`DELETE FROM ${this.t('changelog')} WHERE seq <= $1`, [throughSeq]);
    // the ring must not serve what the log no longer holds
    this.ring = this.ring.filter((c) => c.seq > throughSeq);
    return r.rowCount ?? 0;
  }

  async timeOf(seq: number): Promise<number | undefined> {
    this.live();
    const r = await this.query(`SELECT time FROM ${this.t('changelog')} WHERE seq = $1`, [seq]);
    return r.rows[0]?.time;
  }

  async shipped(): Promise<number> {
    this.live();
    const r = await this.query(`SELECT v FROM ${this.t('meta')} WHERE k = 'shipped'`);
    return Number(r.rows[0]?.v ?? 0);
  }

  async markShipped(seq: number): Promise<void> {
    this.live();
    await this.query(
      `INSERT INTO ${this.t('meta')} (k, v) VALUES ('shipped', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
      [String(seq)],
    );
  }

  async conflicts(): Promise<Conflict[]> {
    this.live();
    const r = await this.query<Row>(`SELECT * FROM ${this.t('records')} WHERE locked ORDER BY resource, key`);
    return r.rows.map((x) => conflictOf(toState(x), x.locked_at ?? 0));
  }

  /** The last digests and the stamp read before they were computed (see Store.digests). */
  private lastDigests: { stamp: string; digests: ShardDigests } | undefined;

  async digests(): Promise<ShardDigests> {
    this.live();
    // what moves whenever a replicated record may have changed (local writes bump seqs.last,
    // applies move a cursor, repairs count themselves), read before hashing: a write while the
    // shards are read moves it, so the next call hashes again
    const st = await this.query<{ s: string }>(
      `SELECT (SELECT last FROM ${this.t('seqs')} WHERE id = 1)::text || '|' ||
         COALESCE((SELECT string_agg(origin || ':' || seq, ',' ORDER BY origin) FROM ${this.t('cursors')}), '') || '|' ||
         COALESCE((SELECT v FROM ${this.t('meta')} WHERE k = 'repairs'), '0') AS s`,
    );
    const stamp = st.rows[0]!.s;
    if (this.lastDigests?.stamp === stamp) return new Map(this.lastDigests.digests);
    const digests = await this.readDigests();
    this.lastDigests = { stamp, digests };
    return new Map(digests);
  }

  private async readDigests(): Promise<ShardDigests> {
    // a shard at a time (the records_by_shard index), not the whole table in one result
    const r = await this.query<{ v: number }>(PRESENT_SHARDS_SQL(this.t('records')));
    return digestByShard(
      r.rows.map((x) => x.v),
      (shard) => this.shardPages(shard),
    );
  }

  /** One shard's replicated records (one query; the database sorts them), handed out in pages to hash. */
  private async *shardPages(shard: number): AsyncGenerator<RecordState[]> {
    const all = await this.shardRecords(shard);
    for (let i = 0; i < all.length; i += DIGEST_PAGE) yield all.slice(i, i + DIGEST_PAGE);
  }

  async shardRecords(shard: number): Promise<RecordState[]> {
    this.live();
    const r = await this.query<Row>(
      `SELECT * FROM ${this.t('records')} WHERE shard = $1 AND cls <> 'local' ORDER BY resource COLLATE "C", key COLLATE "C"`,
      [shard],
    );
    return r.rows.map(toState);
  }

  async repair(states: readonly RecordState[]): Promise<number> {
    this.live();
    return this.tx(async (c) => {
      await c.query(`SELECT last FROM ${this.t('seqs')} WHERE id = 1 FOR UPDATE`);
      const cur = PgStore.byKey((await c.query<Row>(this.readManySql(states))).rows);
      const dirty = new Map<string, RecordState>();
      for (const s of states) {
        const k = `${s.resource}\u0000${s.key}`;
        const local = cur.get(k);
        const { state } = reconcile(local, s, this.deps.policies.policyOf(s.resource));
        if (local && stateDigest(local) === stateDigest(state)) continue;
        cur.set(k, state);
        dirty.set(k, state);
      }
      if (dirty.size) {
        await c.query(this.upsertSql([...dirty.values()], ''));
        // repairs move no seq and no cursor: counted, so the digests' stamp moves
        await c.query(
          `INSERT INTO ${this.t('meta')} (k, v) VALUES ('repairs', '1')
           ON CONFLICT (k) DO UPDATE SET v = (${this.t('meta')}.v::bigint + 1)::text`,
        );
      }
      return dirty.size;
    });
  }

  /** Drops this zone's schema (tests clean up with it). */
  async dropSchema(): Promise<void> {
    await this.query(`DROP SCHEMA IF EXISTS ${ident(this.schema)} CASCADE`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
