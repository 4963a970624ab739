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
import { DigestBuilder, reconcile, stateDigest, stateOfChange } from './versions.ts';
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
    const sync = (await this.pool.query('SHOW synchronous_commit')).rows[0]?.synchronous_commit as string;
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
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('records')} (
        resource text NOT NULL, key text NOT NULL, shard int NOT NULL, cls text NOT NULL,
        value jsonb NOT NULL, deleted boolean NOT NULL, vv jsonb NOT NULL, version bigint NOT NULL,
        origin text NOT NULL, time double precision NOT NULL, locked boolean NOT NULL DEFAULT false,
        candidates jsonb, locked_at double precision, PRIMARY KEY (resource, key))`);
      await c.query(`CREATE INDEX IF NOT EXISTS records_shard ON ${this.t('records')} (shard, resource, key)`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t('changelog')} (
        seq bigint PRIMARY KEY, shard int NOT NULL, epoch int NOT NULL, cls text NOT NULL,
        resource text NOT NULL, key text NOT NULL, value jsonb NOT NULL, deleted boolean NOT NULL,
        vv jsonb NOT NULL, version bigint NOT NULL, time double precision NOT NULL)`);
      await c.query(
        `CREATE TABLE IF NOT EXISTS ${this.t('cursors')} (origin text PRIMARY KEY, seq bigint NOT NULL, time double precision NOT NULL)`,
      );
      const owner = (await c.query(`SELECT v FROM ${this.t('meta')} WHERE k = 'zone'`)).rows[0]?.v as
        | string
        | undefined;
      if (owner === undefined) await c.query(`INSERT INTO ${this.t('meta')} (k, v) VALUES ('zone', $1)`, [this.zone]);
      else if (owner !== this.zone)
        throw storeErrors.ERR_STORE_ZONE_MISMATCH(`schema ${this.schema} holds zone ${owner}, not ${this.zone}`);
    });
  }

  private live(): void {
    if (this.closed) throw storeErrors.ERR_STORE_CLOSED(`store of ${this.zone} is closed`);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  /** Reads many records in one query, keyed `resource\0key`. */
  private async readMany(
    c: pg.PoolClient | pg.Pool,
    keys: readonly { resource: string; key: string }[],
  ): Promise<Map<string, Row>> {
    const out = new Map<string, Row>();
    if (keys.length === 0) return out;
    const r = await c.query<Row>(
      `SELECT r.* FROM ${this.t('records')} r JOIN unnest($1::text[], $2::text[]) AS k(resource, key)
       ON r.resource = k.resource AND r.key = k.key`,
      [keys.map((k) => k.resource), keys.map((k) => k.key)],
    );
    for (const row of r.rows) out.set(`${row.resource}\u0000${row.key}`, row);
    return out;
  }

  /**
   * SQL and parameters that upsert record states in one statement (keeping locked_at while a
   * record stays locked). `prefix` is a WITH clause run in the same statement (the change-log
   * insert or the cursor update) whose parameters come first, so one round trip does both.
   */
  private upsertRecords(
    states: readonly RecordState[],
    prefix: { sql: string; params: unknown[] },
  ): { text: string; values: unknown[] } {
    const o = prefix.params.length;
    const p = (i: number) => `$${o + i}`;
    const text = `${prefix.sql}
      INSERT INTO ${this.t('records')} (resource, key, shard, cls, value, deleted, vv, version, origin, time, locked, candidates, locked_at)
       SELECT u.resource, u.key, u.shard, u.cls, u.value::jsonb, u.deleted, u.vv::jsonb, u.version, u.origin, u.time,
              u.locked, u.candidates::jsonb, CASE WHEN u.locked THEN ${p(13)}::double precision END
       FROM unnest(${p(1)}::text[], ${p(2)}::text[], ${p(3)}::int[], ${p(4)}::text[], ${p(5)}::text[], ${p(6)}::boolean[],
                   ${p(7)}::text[], ${p(8)}::bigint[], ${p(9)}::text[], ${p(10)}::double precision[], ${p(11)}::boolean[], ${p(12)}::text[])
         AS u(resource, key, shard, cls, value, deleted, vv, version, origin, time, locked, candidates)
       ON CONFLICT (resource, key) DO UPDATE SET shard = excluded.shard, cls = excluded.cls, value = excluded.value,
         deleted = excluded.deleted, vv = excluded.vv, version = excluded.version, origin = excluded.origin,
         time = excluded.time, locked = excluded.locked, candidates = excluded.candidates,
         locked_at = CASE WHEN excluded.locked THEN COALESCE(${this.t('records')}.locked_at, excluded.locked_at) END`;
    return {
      text,
      values: [
        ...prefix.params,
        states.map((s) => s.resource),
        states.map((s) => s.key),
        states.map((s) => s.shard),
        states.map((s) => s.cls),
        states.map((s) => JSON.stringify(s.value ?? null)),
        states.map((s) => s.deleted),
        states.map((s) => JSON.stringify(s.vv)),
        states.map((s) => s.version),
        states.map((s) => s.origin),
        states.map((s) => s.time),
        states.map((s) => s.locked),
        states.map((s) => (s.locked ? JSON.stringify(s.candidates) : null)),
        this.deps.clock.wallTime(),
      ],
    };
  }

  /** Plans and commits local writes (puts or a resolution) in one transaction. */
  private async commit(
    keys: readonly { resource: string; key: string }[],
    plan: (read: (resource: string, key: string) => RecordState | undefined) => PlannedWrite[],
  ): Promise<WriteResult[]> {
    this.live();
    return this.tx(async (c) => {
      // every request yields exactly one change (or the whole transaction fails), so allocate the
      // seqs up front; the row lock also serialises this zone's writers, so the reads below are current
      const r = await c.query(`UPDATE ${this.t('seqs')} SET last = last + $1 WHERE id = 1 RETURNING last`, [
        keys.length,
      ]);
      const base = Number(r.rows[0].last) - keys.length;
      const rows = await this.readMany(c, keys);
      const cur = new Map<string, RecordState>();
      for (const [k, row] of rows) cur.set(k, toState(row));
      const planned = plan((resource, key) => cur.get(`${resource}\u0000${key}`));
      const final = new Map<string, RecordState>();
      for (const p of planned) final.set(`${p.state.resource}\u0000${p.state.key}`, p.state);
      const ch = planned.map((p) => p.change);
      const q = this.upsertRecords([...final.values()], {
        sql: `WITH cl AS (INSERT INTO ${this.t('changelog')} (seq, shard, epoch, cls, resource, key, value, deleted, vv, version, time)
         SELECT u.seq, u.shard, u.epoch, u.cls, u.resource, u.key, u.value::jsonb, u.deleted, u.vv::jsonb, u.version, u.time
         FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[],
                     $9::text[], $10::bigint[], $11::double precision[])
           AS u(seq, shard, epoch, cls, resource, key, value, deleted, vv, version, time))`,
        params: [
          ch.map((_, i) => base + i + 1),
          ch.map((x) => x.shard),
          ch.map((x) => x.epoch),
          ch.map((x) => x.cls),
          ch.map((x) => x.resource),
          ch.map((x) => x.key),
          ch.map((x) => JSON.stringify(x.value ?? null)),
          ch.map((x) => x.deleted),
          ch.map((x) => JSON.stringify(x.vv)),
          ch.map((x) => x.version),
          ch.map((x) => x.time),
        ],
      });
      await c.query(q.text, q.values);
      return ch.map((x, i) => ({ seq: base + i + 1, version: x.version, vv: x.vv }));
    });
  }

  async list(resource: string, prefix: string, limit = 1000): Promise<RecordView[]> {
    this.live();
    const r = await this.pool.query<Row>(
      `SELECT * FROM ${this.t('records')} WHERE resource = $1 AND starts_with(key, $2) AND (NOT deleted OR locked)
       ORDER BY key COLLATE "C" LIMIT $3`,
      [resource, prefix, limit],
    );
    return r.rows.map(toState);
  }

  async state(resource: string, key: string): Promise<RecordState | undefined> {
    this.live();
    const r = await this.pool.query<Row>(`SELECT * FROM ${this.t('records')} WHERE resource = $1 AND key = $2`, [
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

  async apply(origin: string, changes: readonly Change[], upTo = 0): Promise<ApplyResult> {
    this.live();
    return this.tx(async (c) => {
      // lock the zone's sequence row (serialises with local writes) and read the cursor in one round trip
      const cr = await c.query(
        `SELECT s.last, c.seq FROM ${this.t('seqs')} s LEFT JOIN ${this.t('cursors')} c ON c.origin = $1
         WHERE s.id = 1 FOR UPDATE OF s`,
        [origin],
      );
      const out: ApplyResult = { applied: 0, duplicates: 0, stale: 0, conflicts: 0, settled: 0, cursor: 0 };
      let cursor = cr.rows[0]?.seq ? Number(cr.rows[0].seq) : 0;
      const fresh = changes.filter((x) => x.seq > cursor);
      out.duplicates = changes.length - fresh.length;
      const rows = await this.readMany(c, fresh);
      const cur = new Map<string, RecordState>();
      for (const [k, r] of rows) cur.set(k, toState(r));
      const dirty = new Map<string, RecordState>();
      for (const ch of fresh) {
        if (ch.seq <= cursor) {
          out.duplicates++;
          continue;
        }
        cursor = ch.seq;
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
      cursor = Math.max(cursor, upTo);
      const q = this.upsertRecords([...dirty.values()], {
        sql: `WITH cur AS (INSERT INTO ${this.t('cursors')} (origin, seq, time) VALUES ($1, $2, $3)
         ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, time = excluded.time)`,
        params: [origin, cursor, this.deps.clock.wallTime()],
      });
      await c.query(q.text, q.values);
      out.cursor = cursor;
      return out;
    });
  }

  async cursor(origin: string): Promise<number> {
    this.live();
    const r = await this.pool.query(`SELECT seq FROM ${this.t('cursors')} WHERE origin = $1`, [origin]);
    return r.rows[0] ? Number(r.rows[0].seq) : 0;
  }

  async cursors(): Promise<Record<string, number>> {
    this.live();
    const r = await this.pool.query(`SELECT origin, seq FROM ${this.t('cursors')}`);
    return Object.fromEntries(r.rows.map((x) => [x.origin as string, Number(x.seq)]));
  }

  async changesAfter(afterSeq: number, limit: number): Promise<Change[]> {
    this.live();
    const r = await this.pool.query(`SELECT * FROM ${this.t('changelog')} WHERE seq > $1 ORDER BY seq LIMIT $2`, [
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
    const r = await this.pool.query(`SELECT last FROM ${this.t('seqs')} WHERE id = 1`);
    return Number(r.rows[0]?.last ?? 0);
  }

  async pruneChanges(throughSeq: number): Promise<number> {
    this.live();
    // the sequence lives in seqs, so even an empty change log never reuses a number
    const r = await this.pool.query(`DELETE FROM ${this.t('changelog')} WHERE seq <= $1`, [throughSeq]);
    return r.rowCount ?? 0;
  }

  async timeOf(seq: number): Promise<number | undefined> {
    this.live();
    const r = await this.pool.query(`SELECT time FROM ${this.t('changelog')} WHERE seq = $1`, [seq]);
    return r.rows[0]?.time;
  }

  async shipped(): Promise<number> {
    this.live();
    const r = await this.pool.query(`SELECT v FROM ${this.t('meta')} WHERE k = 'shipped'`);
    return Number(r.rows[0]?.v ?? 0);
  }

  async markShipped(seq: number): Promise<void> {
    this.live();
    await this.pool.query(
      `INSERT INTO ${this.t('meta')} (k, v) VALUES ('shipped', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
      [String(seq)],
    );
  }

  async conflicts(): Promise<Conflict[]> {
    this.live();
    const r = await this.pool.query<Row>(`SELECT * FROM ${this.t('records')} WHERE locked ORDER BY resource, key`);
    return r.rows.map((x) => conflictOf(toState(x), x.locked_at ?? 0));
  }

  async digests(): Promise<ShardDigests> {
    this.live();
    const r = await this.pool.query<Row>(
      `SELECT * FROM ${this.t('records')} WHERE cls <> 'local' ORDER BY shard, resource COLLATE "C", key COLLATE "C"`,
    );
    const b = new DigestBuilder();
    for (const x of r.rows) b.add(toState(x));
    return b.finish();
  }

  async shardRecords(shard: number): Promise<RecordState[]> {
    this.live();
    const r = await this.pool.query<Row>(
      `SELECT * FROM ${this.t('records')} WHERE shard = $1 AND cls <> 'local' ORDER BY resource COLLATE "C", key COLLATE "C"`,
      [shard],
    );
    return r.rows.map(toState);
  }

  async repair(states: readonly RecordState[]): Promise<number> {
    this.live();
    return this.tx(async (c) => {
      await c.query(`SELECT last FROM ${this.t('seqs')} WHERE id = 1 FOR UPDATE`);
      const rows = await this.readMany(c, states);
      const cur = new Map<string, RecordState>();
      for (const [k, r] of rows) cur.set(k, toState(r));
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
        const q = this.upsertRecords([...dirty.values()], { sql: '', params: [] });
        await c.query(q.text, q.values);
      }
      return dirty.size;
    });
  }

  /** Drops this zone's schema (tests clean up with it). */
  async dropSchema(): Promise<void> {
    await this.pool.query(`DROP SCHEMA IF EXISTS ${ident(this.schema)} CASCADE`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}
