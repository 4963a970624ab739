import pg from 'pg';
import type { Clock } from '../../core/clock.ts';
import { retryUntil } from '../../core/deadline.ts';
import type { Change } from '../../store/index.ts';
import { WalFlushWatch } from '../../store/index.ts';
import { replicationErrors } from '../errors.ts';
import type { Applied, Log, LogBatch, LogSubscription } from '../log.ts';
import type { ResolvedTable } from './table-checks.ts';
import { type TableOp, tableStream } from './table-decoder.ts';
import {
  dominates,
  insertColumns,
  keyColumns,
  keyEquals,
  originName,
  qname,
  quote,
  refusedByDestination,
  SIDE_SCHEMA,
  STALE_SQLSTATE,
  updatedColumns,
  type Vv,
  vvMerge,
} from './table-sql.ts';

export interface ApplierEvents {
  applied?(origin: string, dest: string, batch: LogBatch, rows: number): void;
  conflict?(table: string, key: string, origin: string): void;
  /** A change the destination's database refused was held as conflict `id` (its key locked there). */
  refused?(table: string, key: string, origin: string, id: string, e: unknown): void;
  error?(e: unknown): void;
}

export interface TableApplierOptions {
  /** The destination zone (this applier writes its database). */
  zone: string;
  /** The zone whose changes it applies. */
  origin: string;
  url: string;
  tables: readonly ResolvedTable[];
  log: Log;
  clock: Clock;
  /** How long a refused change holds the link before it is held as a conflict (ms); undefined: for ever. */
  refusedAfterMs?: number;
  events?: ApplierEvents;
}

/** What the destination holds for one key, read in the apply transaction. */
interface KeyState {
  key: string;
  vv: Vv | null;
  /** xmin of the row when its version was taken (null: deleted). */
  row_xid: string | null;
  present: boolean;
  /** The row's xmin now. */
  cur_xid: string | null;
  locked: boolean;
  /** Read only for rows looked at closely. */
  cur_row?: Record<string, unknown> | null;
  same?: boolean;
}

/** Most times a batch waits for this zone's decoder to version a local write it collides with (lww, merge). */
const PENDING_RETRIES = 100;
/** MZ_TABLES_PREPARED=0: plan the apply statement afresh each time (to compare). */
const PREPARED = process.env.MZ_TABLES_PREPARED !== '0';
/** SQLSTATE 53400: every replication origin state of the server is taken. */
const CONFIGURATION_LIMIT_EXCEEDED = '53400';

/**
 * Applies one origin zone's table changes to one destination database, each log batch in one
 * transaction together with its cursor (exactly once), on a session under the replication
 * origin `mz_from_<origin>` (the destination's decoder skips what it writes: no loops) with
 * session_replication_role = replica (the app's triggers, and the lock trigger, don't fire).
 * A batch of one table (the common one) costs two round trips whatever its size: one read of
 * the keys' state, one statement that writes rows, versions, locks, conflicts and the cursor;
 * any other batch runs in BEGIN … COMMIT, two statements per table touched and the cursor.
 *
 * Applies commit asynchronously (`synchronous_commit = off`, as PostgreSQL's own subscriptions
 * do): the log's acknowledgement of a batch waits until the WAL is flushed past its commit
 * (WalFlushWatch), so a crash that loses the commit (and the cursor with it) leaves the batch
 * on the log to be applied again. A lost connection (a restart, a terminated backend) makes
 * the applier connect again, read its cursor back and subscribe again.
 */
export class TableApplier {
  private client: pg.Client | undefined;
  private watch: WalFlushWatch | undefined;
  private sub: LogSubscription | undefined;
  private cursor = 0;
  private readonly byName = new Map<string, ResolvedTable>();
  private stopped = false;
  /**
   * The cursor at which the destination first refused a change, and when: the link holds
   * until refusedAfterMs (keyed by the cursor, not the batch: a redelivery may cut batches anew).
   */
  private refusing: { at: number; since: number } | undefined;
  /** Refused changes the transaction in progress holds as conflicts (see holdRefused). */
  private heldNow: (() => void)[] = [];
  /** The connection to reconnect after a loss, while it is being made again. */
  private reconnecting: Promise<void> | undefined;
  /** Newest applied position and the source commit time of it (lag). */
  lastApplied = { seq: 0, time: 0, at: 0 };
  /** The replication origin this applier writes under. */
  originId = '';
  readonly counters = {
    rows: 0,
    skipped: 0,
    conflicts: 0,
    settled: 0,
    truncates: 0,
    batches: 0,
    reconnects: 0,
    /** Applies read again: an app's write changed a row between the apply's read and its write. */
    raced: 0,
    /** Changes the destination refused, held as conflicts. */
    refused: 0,
    /** Batches applied in one statement (applyPlain), and those it left to the read-then-write path. */
    plain: 0,
    plainMissed: 0,
  };

  constructor(private readonly o: TableApplierOptions) {
    for (const t of o.tables) this.byName.set(t.name, t);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  /** A session under the origin, the cursor read back, and the subscription from it. */
  /** A server with every origin state in use (SQLSTATE 53400), said with the setting that sizes them. */
  private originLimit(e: unknown): Error {
    return replicationErrors.ERR_REPL_TABLES_ORIGIN_LIMIT(
      `replication.tables: zone ${this.o.zone}'s PostgreSQL has no free replication origin for the applier from ${this.o.origin} (${(e as Error).message}). ` +
        "The server's max_replication_slots bounds both its slots and its origins: every zone database on it needs one slot and one origin per other zone. " +
        'Raise it (ALTER SYSTEM SET max_replication_slots = 64) and restart PostgreSQL',
      { cause: e, details: { zone: this.o.zone, origin: this.o.origin } },
    );
  }

  private async connect(): Promise<void> {
    const c = new pg.Client({ connectionString: this.o.url });
    await c.connect();
    const lost = (e: unknown) => {
      if (this.client === c) this.lost(e);
    };
    c.on('error', lost);
    c.on('end', () => lost(new Error(`tables: applier ${this.o.origin} → ${this.o.zone} lost its connection`)));
    try {
      // commits are made durable before the log forgets them (see the class comment)
      await c.query("SET TimeZone = 'UTC'; SET session_replication_role = replica; SET synchronous_commit = off");
      // the one-statement apply is prepared once per connection and planned once: its plan,
      // index lookups per key (keyLookups), does not depend on the tables' sizes, and planning
      // it cost a quarter of its run
      if (PREPARED) await c.query('SET plan_cache_mode = force_generic_plan');
      const db = (await c.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d;
      const origin = originName(this.o.origin, db);
      this.originId = origin;
      await c.query(
        'SELECT pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = $1)',
        [origin],
      );
      // one session per origin at a time: a second applier of the same link fails here instead of applying twice
      await c.query('SELECT pg_replication_origin_session_setup($1)', [origin]);
      const r = await c.query<{ seq: string }>(`SELECT seq FROM ${SIDE_SCHEMA}.table_cursors WHERE origin = $1`, [
        this.o.origin,
      ]);
      this.cursor = Number(r.rows[0]?.seq ?? 0);
    } catch (e) {
      c.removeAllListeners('end');
      await c.end().catch(() => {});
      throw (e as { code?: string }).code === CONFIGURATION_LIMIT_EXCEEDED ? this.originLimit(e) : e;
    }
    this.client = c;
    this.watch = new WalFlushWatch(c, this.o.clock);
    this.sub = await this.o.log.subscribe(tableStream(this.o.origin), this.o.zone, this.cursor, (b) =>
      this.apply(c, b),
    );
  }

  /**
   * The connection failed, or a batch's commit could not be confirmed durable: drop the
   * subscription (the log keeps what was not confirmed) and connect again until it works.
   */
  private lost(e: unknown): void {
    if (this.stopped || this.reconnecting) return;
    this.o.events?.error?.(e);
    const old = this.client;
    this.client = undefined;
    this.watch?.close(e);
    this.reconnecting = (async () => {
      await this.sub?.close().catch(() => {});
      this.sub = undefined;
      old?.removeAllListeners('end');
      await old?.end().catch(() => {});
      const ok = await retryUntil(
        this.o.clock,
        () => !this.stopped,
        () => this.connect(),
        (err) => this.o.events?.error?.(err),
      );
      if (ok) this.counters.reconnects++;
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  /** Stops applying (the connection, and so the origin session, ends). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.reconnecting;
    for (const w of this.waiters.splice(0)) w.done();
    await this.sub?.close();
    this.sub = undefined;
    this.watch?.close();
    const c = this.client;
    this.client = undefined;
    c?.removeAllListeners('end');
    await c?.end().catch(() => {});
  }

  get zone(): string {
    return this.o.zone;
  }

  get origin(): string {
    return this.o.origin;
  }

  /** Applied position (the durable cursor). */
  position(): number {
    return this.cursor;
  }

  private waiters: { seq: number; done: () => void }[] = [];

  /** Resolves once the batch ending at `seq` (or a later one) is applied here. */
  appliedUpTo(seq: number): Promise<void> {
    if (this.cursor >= seq) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ seq, done }));
  }

  private async apply(c: pg.Client, b: LogBatch): Promise<Applied | undefined> {
    if (b.to <= this.cursor) return undefined;
    const changes = b.changes.filter((ch) => ch.seq > this.cursor);
    // a batch the destination has refused for refusedAfterMs is applied change by change, the
    // refused ones held as conflicts
    const r = this.refusing;
    const after = this.o.refusedAfterMs;
    const isolate = r?.at === this.cursor && after !== undefined && this.o.clock.now() - r.since >= after;
    for (let attempt = 0; ; attempt++) {
      // a subscription of a connection that was lost never applies on the next one
      if (this.client !== c) throw new Error(`tables: applier ${this.o.origin} → ${this.o.zone} reconnecting`);
      let waitFor: boolean;
      try {
        waitFor = await this.applyOnce(c, b, changes, attempt >= PENDING_RETRIES, isolate);
      } catch (e) {
        if (refusedByDestination(e) && this.refusing?.at !== this.cursor)
          this.refusing = { at: this.cursor, since: this.o.clock.now() };
        throw e;
      }
      if (!waitFor) break;
      // a local write to a key is not versioned yet (or came between the read and the write):
      // let this zone's decoder see it first
      await this.o.clock.sleep(5);
    }
    const watch = this.watch!;
    const durable = watch.committed().catch((e: unknown) => {
      if (this.watch === watch) this.lost(e);
      throw e;
    });
    durable.catch(() => {}); // the log handles it; never an unhandled rejection meanwhile
    return { durable };
  }

  /** One attempt; true when it rolled back to wait for a pending local write. */
  private async applyOnce(
    c: pg.Client,
    b: LogBatch,
    changes: Change[],
    force: boolean,
    isolate: boolean,
  ): Promise<boolean> {
    const segs = segments(changes);
    const only =
      !isolate && segs.length === 1 && !segs[0]!.truncate && segs[0]!.byTable.size === 1 ? segs[0]! : undefined;
    const [name, list] = only ? [...only.byTable][0]! : [];
    const t1 = name ? this.byName.get(name) : undefined;
    if (t1 && list) {
      // the common batch (one table, no TRUNCATE): first as one statement that applies only if
      // every change is plainly newer than the row (one round trip); else no explicit
      // transaction — the state read is a statement of its own (as it would be under READ
      // COMMITTED anyway), and the rows, versions and cursor are written by one statement,
      // atomic by itself: two round trips
      let r: number | 'wait';
      try {
        const fast = force ? undefined : await this.applyPlain(c, t1, list, b.to);
        if (fast !== undefined) {
          this.done(b, changes, fast);
          return false;
        }
        r = await this.applyTable(c, t1, list, force, b.to);
      } catch (e) {
        if (this.raced(e)) return true;
        this.o.events?.error?.(e);
        throw e;
      }
      if (r === 'wait') return true;
      this.done(b, changes, r);
      return false;
    }
    await c.query('BEGIN');
    this.heldNow = [];
    let rows = 0;
    try {
      for (const seg of segs) {
        if (seg.truncate) {
          const t = this.byName.get(seg.truncate);
          if (!t) continue;
          await c.query(
            `TRUNCATE ${qname(t.schema, t.table)};
             DELETE FROM ${SIDE_SCHEMA}.table_versions WHERE tbl = '${t.name}';
             DELETE FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = '${t.name}'`,
          );
          this.counters.truncates++;
          continue;
        }
        for (const [name, list] of seg.byTable) {
          const t = this.byName.get(name);
          if (!t) continue;
          const r = isolate ? await this.applyEach(c, t, list, force) : await this.applyTable(c, t, list, force);
          if (r === 'wait') {
            await c.query('ROLLBACK');
            return true;
          }
          rows += r;
        }
      }
      await this.moveCursor(c, b.to);
      await c.query('COMMIT');
      for (const said of this.heldNow.splice(0)) said();
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      if (this.raced(e)) return true;
      this.o.events?.error?.(e);
      throw e;
    }
    this.done(b, changes, rows);
    return false;
  }

  /** An apply that wrote nothing because an app's write changed one of its rows meanwhile: read again. */
  private raced(e: unknown): boolean {
    if ((e as { code?: unknown }).code !== STALE_SQLSTATE) return false;
    this.counters.raced++;
    return true;
  }

  /**
   * A table's changes one at a time, each under a savepoint: a change the database refuses
   * (class 23) is rolled back alone and held as a conflict; the others apply.
   */
  private async applyEach(c: pg.Client, t: ResolvedTable, list: Change[], force: boolean): Promise<number | 'wait'> {
    let rows = 0;
    for (const ch of list) {
      await c.query('SAVEPOINT mz_change');
      try {
        const r = await this.applyTable(c, t, [ch], force);
        if (r === 'wait') return 'wait';
        rows += r;
      } catch (e) {
        if (!refusedByDestination(e)) throw e;
        await c.query('ROLLBACK TO SAVEPOINT mz_change');
        await this.holdRefused(c, t, ch, e);
      }
      await c.query('RELEASE SAVEPOINT mz_change');
    }
    return rows;
  }

  /**
   * A refused change becomes a conflict of its key, as a concurrent write under `lock` does:
   * the key is locked here (the app's writes to it fail with MZL01), the destination's row
   * and version are the local candidate, the refused row the remote one, with the database's
   * reason. A later change of the key from the origin that has seen the local row applies and
   * unlocks it (see applyTable); else `multizone conflicts resolve`.
   */
  private async holdRefused(c: pg.Client, t: ResolvedTable, ch: Change, e: unknown): Promise<void> {
    const T = qname(t.schema, t.table);
    const op = ch.value as TableOp;
    const kr = keyColumns(t.key, op.row);
    const err = e as Error & { detail?: string; constraint?: string };
    const reason = `${err.message}${err.detail ? ` (${err.detail})` : ''}`;
    const r = await c.query<{ id: string }>(
      `WITH l AS (INSERT INTO ${SIDE_SCHEMA}.table_locks (tbl, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1)
       INSERT INTO ${SIDE_SCHEMA}.table_conflicts (tbl, key, origin, local_row, remote_row, local_vv, remote_vv, reason)
       SELECT $1, $2, $3,
              (SELECT to_jsonb(t) FROM ${T} AS t, jsonb_populate_record(NULL::${T}, $4::jsonb) AS p
                WHERE ${keyEquals(t.key, 't', 'p')} LIMIT 1),
              $5::jsonb, (SELECT v.vv FROM ${SIDE_SCHEMA}.table_versions v WHERE v.tbl = $1 AND v.key = $2), $6::jsonb, $7
       RETURNING id::text`,
      [
        t.name,
        ch.key,
        this.o.origin,
        JSON.stringify(kr),
        op.op === 'upsert' ? JSON.stringify(op.row ?? null) : null,
        JSON.stringify(ch.vv),
        reason,
      ],
    );
    // counted and said once the batch commits (a rolled-back attempt holds it again)
    this.heldNow.push(() => {
      this.counters.refused++;
      this.counters.conflicts++;
      this.o.events?.conflict?.(t.name, ch.key, this.o.origin);
      this.o.events?.refused?.(t.name, ch.key, this.o.origin, `table:${this.o.zone}:${r.rows[0]!.id}`, e);
    });
  }

  /** After a batch's commit: the cursor, counters, lag and waiters move on. */
  private done(b: LogBatch, changes: Change[], rows: number): void {
    this.refusing = undefined;
    this.cursor = b.to;
    this.counters.rows += rows;
    this.counters.batches++;
    const last = changes[changes.length - 1];
    this.lastApplied = { seq: b.to, time: last?.time ?? this.lastApplied.time, at: this.o.clock.wallTime() };
    this.o.events?.applied?.(this.o.origin, this.o.zone, b, rows);
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => w.seq <= this.cursor);
      this.waiters = this.waiters.filter((w) => w.seq > this.cursor);
      for (const w of ready) w.done();
    }
  }

  /**
   * The common batch in one statement: each change newer than the key's version (the version
   * it replaces is in the change's), the key neither locked nor written here unversioned —
   * then written with the change's version and the cursor. Any other case makes the statement
   * fail (stale_row) and returns undefined, for applyTable to read the state and decide.
   */
  private async applyPlain(
    c: pg.Client,
    t: ResolvedTable,
    list: Change[],
    cursor: number,
  ): Promise<number | undefined> {
    const T = qname(t.schema, t.table);
    const keyCols = t.key.map(quote);
    const arg = list.map((ch) => {
      const op = ch.value as TableOp;
      return { key: ch.key, kr: keyColumns(t.key, op.row), r: op.op === 'upsert' ? op.row : null, vv: ch.vv };
    });
    const eq = (a: string, b: string) => keyEquals(t.key, a, b);
    const nonKey = updatedColumns(t);
    const cols = insertColumns(t.columns, 'd');
    const set =
      nonKey.length === 0
        ? `${keyCols[0]} = t.${keyCols[0]}`
        : `(${nonKey.map(quote).join(', ')}) = ROW(${nonKey.map((n) => `d.${quote(n)}`).join(', ')})`;
    const S = SIDE_SCHEMA;
    try {
      await c.query({
        ...(PREPARED ? { name: `mz_apply_plain ${t.name}` } : {}),
        text: `WITH st AS (SELECT x.key, x.kr, x.r, x.vv, v.vv AS lvv, v.row_xid, t.cur,
                            t.cur IS NOT NULL AS present, l.locked IS NOT NULL AS locked
                       FROM jsonb_to_recordset($2::jsonb) AS x(key text, kr jsonb, r jsonb, vv jsonb)
                       ${keyLookups(S, T, '$1', eq('t', 'p'))}),
              bad AS (SELECT count(*) AS n FROM st
                       WHERE locked
                          OR (present AND (lvv IS NULL OR (row_xid IS NOT NULL AND cur <> row_xid::text)))
                          OR (NOT present AND lvv IS NOT NULL AND row_xid IS NOT NULL)
                          OR (lvv IS NOT NULL AND (NOT ${S}.vv_dominates(vv, lvv) OR ${S}.vv_dominates(lvv, vv)))),
              ins AS (INSERT INTO ${T} AS t ${cols.into} SELECT ${cols.from} FROM st, LATERAL jsonb_populate_record(NULL::${T}, st.r) AS d
                       WHERE NOT st.present AND st.r IS NOT NULL
                      ON CONFLICT (${keyCols.join(', ')}) DO NOTHING RETURNING 1),
              upd AS (UPDATE ${T} AS t SET ${set} FROM st, LATERAL jsonb_populate_record(NULL::${T}, st.r) AS d
                       WHERE st.present AND st.r IS NOT NULL AND ${eq('t', 'd')} AND t.xmin::text = st.cur RETURNING 1),
              del AS (DELETE FROM ${T} AS t USING st, LATERAL jsonb_populate_record(NULL::${T}, st.kr) AS d
                       WHERE st.present AND st.r IS NULL AND ${eq('t', 'd')} AND t.xmin::text = st.cur RETURNING 1),
              ver AS (INSERT INTO ${S}.table_versions AS v (tbl, key, vv, row_xid)
                      SELECT $1, st.key, st.vv,
                             CASE WHEN st.r IS NULL THEN NULL ELSE (txid_current() % 4294967296)::text::xid END FROM st
                      ON CONFLICT (tbl, key) DO UPDATE SET vv = EXCLUDED.vv, row_xid = EXCLUDED.row_xid RETURNING 1),
              cur AS (INSERT INTO ${S}.table_cursors (origin, seq) VALUES ($3, $4::bigint)
                      ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq RETURNING 1)
         SELECT CASE WHEN (SELECT n FROM bad) = 0
                      AND (SELECT count(*) FROM ins) = (SELECT count(*) FROM st WHERE NOT present AND r IS NOT NULL)
                      AND (SELECT count(*) FROM upd) = (SELECT count(*) FROM st WHERE present AND r IS NOT NULL)
                      AND (SELECT count(*) FROM del) = (SELECT count(*) FROM st WHERE present AND r IS NULL)
                THEN (SELECT count(*) FROM ver) + (SELECT count(*) FROM cur) ELSE ${S}.stale_row() END AS n`,
        values: [t.name, JSON.stringify(arg), this.o.origin, cursor],
      });
    } catch (e) {
      if ((e as { code?: unknown }).code !== STALE_SQLSTATE) throw e;
      this.counters.plainMissed++;
      return undefined;
    }
    this.counters.plain++;
    return list.length;
  }

  /** `cursor`: move the cursor to it in the same statement (the batch's only write). */
  private async applyTable(
    c: pg.Client,
    t: ResolvedTable,
    list: Change[],
    force: boolean,
    cursor?: number,
  ): Promise<number | 'wait'> {
    const T = qname(t.schema, t.table);
    const keyCols = t.key.map(quote);
    const ops = list.map((ch) => ({ ch, op: ch.value as TableOp }));
    const keyRow = (op: TableOp) => keyColumns(t.key, op.row);
    const arg = ops.map(({ ch, op }, i) => ({ i, key: ch.key, kr: keyRow(op) }));
    const joinKey = keyEquals(t.key, 't', 'p');
    // the keys' state in one read: version, whether the row changed since (xmin), lock
    const st = await c.query<KeyState>(
      `SELECT x.key, v.vv, v.row_xid::text AS row_xid, t.cur IS NOT NULL AS present, t.cur AS cur_xid,
              l.locked IS NOT NULL AS locked
         FROM jsonb_to_recordset($2::jsonb) AS x(i int, key text, kr jsonb)
         ${keyLookups(SIDE_SCHEMA, T, '$1', joinKey)}
        ORDER BY x.i`,
      [t.name, JSON.stringify(arg)],
    );
    const state = st.rows;
    // a local write not versioned yet: a row without a version, or one that changed since its
    // version was taken by xid (row_xid NULL: versioned by the version trigger at each write)
    const pendingOf = (s: KeyState) =>
      s.present
        ? s.vv === null || (s.row_xid !== null && s.cur_xid !== s.row_xid)
        : s.vv !== null && s.row_xid !== null;
    // rows to look at closely (rare): a would-be conflict or an unversioned row — is the row the same already?
    const close: number[] = [];
    state.forEach((s, i) => {
      const V = ops[i]!.ch.vv;
      const L = s.vv;
      if (L && dominates(L, V) && !s.locked) return;
      if (s.locked || pendingOf(s) || (L !== null && !dominates(V, L))) close.push(i);
    });
    if (close.length > 0) {
      const more = await c.query<{ i: number; cur_row: Record<string, unknown> | null; same: boolean | null }>(
        `SELECT x.i, t.j AS cur_row,
                CASE WHEN x.rj IS NULL THEN t.j IS NULL
                     ELSE t.j IS NOT NULL AND t.j = to_jsonb(jsonb_populate_record(NULL::${T}, x.rj)) END AS same
           FROM jsonb_to_recordset($1::jsonb) AS x(i int, kr jsonb, rj jsonb)
           LEFT JOIN LATERAL jsonb_populate_record(NULL::${T}, x.kr) AS p ON true
           -- one index probe per key (see keyLookups)
           LEFT JOIN LATERAL (SELECT to_jsonb(t) AS j FROM ${T} AS t WHERE ${joinKey} LIMIT 1) t ON true`,
        [
          JSON.stringify(
            close.map((i) => {
              const op = ops[i]!.op;
              return { i, kr: keyRow(op), rj: op.op === 'upsert' ? op.row : null };
            }),
          ),
        ],
      );
      for (const r of more.rows) {
        state[r.i]!.cur_row = r.cur_row;
        state[r.i]!.same = r.same === true;
      }
    }
    // rows written only if they are still as read: absent ones inserted, present ones updated or
    // deleted while their xmin is the one read (see the statement below)
    const inserts: unknown[] = [];
    const updates: { r: Record<string, unknown>; xid: string | null }[] = [];
    const deletes: { kr: Record<string, unknown> | null; xid: string | null }[] = [];
    /** m: w = the row written now (row_xid = this transaction), d = deleted, k = keep the row and its xid. */
    const versions: { key: string; vv: Vv; m: 'w' | 'd' | 'k'; xid?: string | null }[] = [];
    const unlock: string[] = [];
    const conflicts: unknown[] = [];
    const policy = t.config.conflict;
    let rows = 0;
    for (let i = 0; i < ops.length; i++) {
      const { ch, op } = ops[i]!;
      const s = state[i]!;
      const V = ch.vv;
      const L = s.vv;
      if (L && dominates(L, V) && !s.locked) {
        this.counters.skipped++;
        continue;
      }
      const pending = pendingOf(s);
      const write = (row: Record<string, unknown> | null | undefined, vv: Vv) => {
        if (row && s.present) updates.push({ r: row, xid: s.cur_xid });
        else if (row) inserts.push(row);
        else if (op.row && s.present) deletes.push({ kr: keyRow(op), xid: s.cur_xid });
        versions.push({ key: ch.key, vv, m: row ? 'w' : 'd' });
        rows++;
      };
      if (s.locked) {
        // L null: a key locked by a refused change where this zone never wrote it (see holdRefused)
        if (!pending && (L === null || (dominates(V, L) && !dominates(L, V)))) {
          // a resolution (a write that saw every candidate) from another zone: apply and unlock
          write(op.op === 'upsert' ? op.row : null, V);
          unlock.push(ch.key);
        } else {
          conflicts.push(this.conflictRow(ch, op, s));
          this.counters.conflicts++;
          this.o.events?.conflict?.(t.name, ch.key, this.o.origin);
        }
        continue;
      }
      if (s.same) {
        // the row already is what the change says (e.g. a snapshot of a row both zones hold)
        versions.push({ key: ch.key, vv: vvMerge(L ?? {}, V), m: 'k', xid: s.cur_xid });
        continue;
      }
      if (!pending && (L === null || dominates(V, L))) {
        write(op.op === 'upsert' ? op.row : null, vvMerge(L ?? {}, V));
        continue;
      }
      // concurrent: the two zones wrote the row without seeing each other's write
      if (policy === 'lock') {
        conflicts.push(this.conflictRow(ch, op, s));
        this.counters.conflicts++;
        this.o.events?.conflict?.(t.name, ch.key, this.o.origin);
        continue;
      }
      if (pending && !force) return 'wait';
      const merged = settle(
        policy,
        s.cur_row ?? null,
        op.op === 'upsert' ? (op.row ?? null) : null,
        this.o.zone,
        this.o.origin,
      );
      this.counters.settled++;
      const vv = vvMerge(L ?? {}, V);
      if (merged === 'local') versions.push({ key: ch.key, vv, m: 'k', xid: s.cur_xid });
      else write(merged, vv);
    }
    if (inserts.length + updates.length + deletes.length + versions.length + conflicts.length + unlock.length === 0) {
      if (cursor !== undefined) await this.moveCursor(c, cursor);
      return 0;
    }
    const nonKey = updatedColumns(t);
    const cols = insertColumns(t.columns, 'd');
    // a key-only table's row is "updated" to itself, so its xmin becomes this transaction's as the version says
    const set =
      nonKey.length === 0
        ? `${keyCols[0]} = t.${keyCols[0]}`
        : `(${nonKey.map(quote).join(', ')}) = ROW(${nonKey.map((n) => `d.${quote(n)}`).join(', ')})`;
    const keyEq = keyEquals(t.key, 't', 'd');
    // Everything in one statement (one round trip): rows, versions, locks, conflicts. The keys'
    // state was read by an earlier statement, so an app's write committed since then must not be
    // overwritten (it would never be seen as concurrent): a row is updated or deleted only while
    // its xmin is the one read — under READ COMMITTED, a row changed after this statement's
    // snapshot is checked again in its newest version —, and inserted only while still absent.
    // A row that fails its condition makes the whole statement fail (stale_row), to be read again.
    await c.query(
      `WITH ins AS (INSERT INTO ${T} AS t ${cols.into} SELECT ${cols.from} FROM jsonb_populate_recordset(NULL::${T}, $2::jsonb) AS d
                   ON CONFLICT (${keyCols.join(', ')}) DO NOTHING RETURNING 1),
            upd AS (UPDATE ${T} AS t SET ${set}
                      FROM jsonb_to_recordset($9::jsonb) AS x(r jsonb, xid text),
                           LATERAL jsonb_populate_record(NULL::${T}, x.r) AS d
                     WHERE ${keyEq} AND t.xmin::text = x.xid RETURNING 1),
            del AS (DELETE FROM ${T} AS t USING jsonb_to_recordset($3::jsonb) AS x(kr jsonb, xid text),
                           LATERAL jsonb_populate_record(NULL::${T}, x.kr) AS d
                     WHERE ${keyEq} AND t.xmin::text = x.xid RETURNING 1),
            ver AS (INSERT INTO ${SIDE_SCHEMA}.table_versions AS v (tbl, key, vv, row_xid)
                    SELECT $1, x.key, x.vv, CASE WHEN x.m = 'w' THEN (txid_current() % 4294967296)::text::xid ELSE x.xid::xid END
                      FROM jsonb_to_recordset($4::jsonb) AS x(key text, vv jsonb, m text, xid text)
                    ON CONFLICT (tbl, key) DO UPDATE SET vv = EXCLUDED.vv, row_xid = EXCLUDED.row_xid
                    RETURNING 1),
            unl AS (DELETE FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = $1 AND key = ANY($5::text[]) RETURNING 1),
            res AS (UPDATE ${SIDE_SCHEMA}.table_conflicts SET resolved_at = now(), resolved_by = $7
                     WHERE tbl = $1 AND key = ANY($5::text[]) AND resolved_at IS NULL RETURNING 1),
            lck AS (INSERT INTO ${SIDE_SCHEMA}.table_locks (tbl, key)
                    SELECT DISTINCT $1, x.key FROM jsonb_to_recordset($6::jsonb) AS x(key text) ON CONFLICT DO NOTHING RETURNING 1),
            cfl AS (INSERT INTO ${SIDE_SCHEMA}.table_conflicts (tbl, key, origin, local_row, remote_row, local_vv, remote_vv)
                    SELECT $1, x.key, $7, x.local_row, x.remote_row, x.local_vv, x.remote_vv
                      FROM jsonb_to_recordset($6::jsonb) AS x(key text, local_row jsonb, remote_row jsonb, local_vv jsonb, remote_vv jsonb)
                    RETURNING 1),
            cur AS (INSERT INTO ${SIDE_SCHEMA}.table_cursors (origin, seq) SELECT $7, $8::bigint WHERE $8::bigint IS NOT NULL
                    ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq RETURNING 1)
       SELECT CASE WHEN (SELECT count(*) FROM ins) = ${inserts.length} AND (SELECT count(*) FROM upd) = ${updates.length}
                        AND (SELECT count(*) FROM del) = ${deletes.length}
              THEN (SELECT count(*) FROM ver) + (SELECT count(*) FROM unl) + (SELECT count(*) FROM res)
                 + (SELECT count(*) FROM lck) + (SELECT count(*) FROM cfl) + (SELECT count(*) FROM cur)
              ELSE ${SIDE_SCHEMA}.stale_row() END AS n`,
      [
        t.name,
        JSON.stringify(inserts),
        JSON.stringify(deletes),
        JSON.stringify(versions),
        unlock,
        JSON.stringify(conflicts),
        this.o.origin,
        cursor ?? null,
        JSON.stringify(updates),
      ],
    );
    return rows;
  }

  private async moveCursor(c: pg.Client, seq: number): Promise<void> {
    await c.query(
      `INSERT INTO ${SIDE_SCHEMA}.table_cursors (origin, seq) VALUES ($1, $2)
       ON CONFLICT (origin) DO UPDATE SET seq = EXCLUDED.seq`,
      [this.o.origin, seq],
    );
  }

  private conflictRow(ch: Change, op: TableOp, s: KeyState) {
    return {
      key: ch.key,
      local_row: s.cur_row ?? null,
      remote_row: op.op === 'upsert' ? (op.row ?? null) : null,
      local_vv: s.vv,
      remote_vv: ch.vv,
    };
  }
}

/**
 * lww / merge between the local row and the remote one, decided alike in both zones so they
 * converge: 'local' keeps the local row; otherwise the row to write (null = deleted).
 */
export function settle(
  policy: Exclude<ResolvedTable['config']['conflict'], 'lock'>,
  local: Record<string, unknown> | null,
  remote: Record<string, unknown> | null,
  here: string,
  there: string,
): Record<string, unknown> | null | 'local' {
  const lwwCol = policy.lww;
  const remoteWins = (): boolean => {
    if (lwwCol && local && remote) {
      const d = compareValues(remote[lwwCol], local[lwwCol]);
      if (d !== 0) return d > 0;
    } else if (!local !== !remote) return remote !== null; // a write beats a delete
    return there > here;
  };
  if ('merge' in policy && local && remote) {
    const base = remoteWins() ? { ...remote } : { ...local };
    for (const [col, how] of Object.entries(policy.merge)) {
      const d = compareValues(remote[col], local[col]);
      base[col] = (how === 'max' ? d > 0 : d < 0) ? remote[col] : local[col];
    }
    return base;
  }
  return remoteWins() ? remote : 'local';
}

/** Numbers as numbers, timestamps as instants, else text. */
function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && String(a).trim() !== '' && String(b).trim() !== '') return na - nb;
  const ta = Date.parse(String(a).replace(' ', 'T'));
  const tb = Date.parse(String(b).replace(' ', 'T'));
  if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** A batch's changes cut at TRUNCATEs (order kept), each piece grouped by table, the last change of each key standing. */
function segments(changes: Change[]): { truncate?: string; byTable: Map<string, Change[]> }[] {
  const out: { truncate?: string; byTable: Map<string, Change[]> }[] = [];
  let cur: { byTable: Map<string, Map<string, Change>> } | undefined;
  const flush = () => {
    if (!cur) return;
    out.push({ byTable: new Map([...cur.byTable].map(([t, m]) => [t, [...m.values()]])) });
    cur = undefined;
  };
  for (const ch of changes) {
    const table = ch.resource.slice('table:'.length);
    if ((ch.value as TableOp).op === 'truncate') {
      flush();
      out.push({ truncate: table, byTable: new Map() });
      continue;
    }
    cur ??= { byTable: new Map() };
    const m = cur.byTable.get(table) ?? new Map<string, Change>();
    m.delete(ch.key); // re-insert so the key's last change keeps its place
    m.set(ch.key, ch);
    cur.byTable.set(table, m);
  }
  flush();
  return out;
}

/**
 * The FROM-clause joins that look each key of a batch up (`x`: its recordset, with `key` and
 * `kr`, the key's columns): its version `v` (vv, row_xid), its lock `l` (locked) and its row
 * `t` (cur, the row's xmin). Each is a LATERAL subquery with LIMIT 1, which the planner
 * cannot turn into a join: one index lookup per key, whatever the statistics say. A plain
 * join let stale statistics of the side tables (autovacuum had not analysed them yet: 56
 * version rows estimated, 20,000 there) pick a hash join reading every version row of the
 * table for a batch of 5 — 10 ms of an 11 ms apply, growing with the table.
 */
function keyLookups(side: string, table: string, tbl: string, keyMatch: string): string {
  return `LEFT JOIN LATERAL (SELECT v.vv, v.row_xid FROM ${side}.table_versions v
                              WHERE v.tbl = ${tbl} AND v.key = x.key LIMIT 1) v ON true
          LEFT JOIN LATERAL (SELECT true AS locked FROM ${side}.table_locks l
                              WHERE l.tbl = ${tbl} AND l.key = x.key LIMIT 1) l ON true
          LEFT JOIN LATERAL jsonb_populate_record(NULL::${table}, x.kr) AS p ON true
          LEFT JOIN LATERAL (SELECT t.xmin::text AS cur FROM ${table} AS t WHERE ${keyMatch} LIMIT 1) t ON true`;
}
