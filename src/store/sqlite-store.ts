import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Checkpointer } from './checkpointer.ts';
import { storeErrors } from './errors.ts';
import { acquireFileLock } from './file-lock.ts';
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

/** Options of the SQLite adapter: one file per zone. */
export interface SqliteStoreOptions extends StoreDeps {
  /** Database file (created with its folder); ':memory:' for throwaway tests. */
  file: string;
  /**
   * `normal` (default): in WAL mode a commit survives a process crash but may be lost on
   * power loss; `full`: fsync on every commit (survives power loss, ~6× slower single-row).
   */
  synchronous?: 'normal' | 'full';
}

interface Row {
  resource: string;
  key: string;
  shard: number;
  cls: string;
  value: string;
  deleted: number;
  vv: string;
  version: number;
  origin: string;
  time: number;
  locked: number;
  candidates: string | null;
  locked_at: number | null;
}

interface ChangeRow {
  seq: number;
  shard: number;
  epoch: number;
  cls: string;
  resource: string;
  key: string;
  value: string;
  deleted: number;
  vv: string;
  version: number;
  time: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  resource TEXT NOT NULL, key TEXT NOT NULL, shard INTEGER NOT NULL, cls TEXT NOT NULL,
  value TEXT NOT NULL, deleted INTEGER NOT NULL, vv TEXT NOT NULL, version INTEGER NOT NULL,
  origin TEXT NOT NULL, time REAL NOT NULL, locked INTEGER NOT NULL DEFAULT 0,
  candidates TEXT, locked_at REAL,
  PRIMARY KEY (resource, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_shard ON records (shard, resource, key);
CREATE INDEX IF NOT EXISTS records_locked ON records (locked) WHERE locked = 1;
CREATE TABLE IF NOT EXISTS changelog (
  seq INTEGER PRIMARY KEY, shard INTEGER NOT NULL, epoch INTEGER NOT NULL, cls TEXT NOT NULL,
  resource TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, deleted INTEGER NOT NULL,
  vv TEXT NOT NULL, version INTEGER NOT NULL, time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (origin TEXT PRIMARY KEY, seq INTEGER NOT NULL, time REAL NOT NULL);
`;

/**
 * JSON text of a change's value and vector, kept on the change objects this store wrote: in
 * embedded mode one change object is applied by three other zones (and was encoded at write
 * time). A non-enumerable property, not a WeakMap: a WeakMap holding every change still alive
 * rehashed itself on the event loop for tens of milliseconds as it grew, and its ephemerons
 * slowed every young-generation GC (the sqlite + jetstream lag p99).
 */
const JSON_TEXT = Symbol('mz.changeJson');

/**
 * Most changes the ring keeps: a burst of commits the shipper has not caught up with yet
 * (the table has them all; the ring only saves reading them back); past it the oldest half goes.
 */
const RING_MAX = 20_000;

type Encoded = { value: string; vv: string };
function jsonOf(c: Change): Encoded {
  return (
    (c as Change & { [JSON_TEXT]?: Encoded })[JSON_TEXT] ?? {
      value: JSON.stringify(c.value ?? null),
      vv: JSON.stringify(c.vv),
    }
  );
}

function toState(r: Row): RecordState {
  return {
    resource: r.resource,
    key: r.key,
    shard: r.shard,
    cls: r.cls as RecordState['cls'],
    value: JSON.parse(r.value),
    deleted: r.deleted === 1,
    vv: JSON.parse(r.vv),
    version: r.version,
    origin: r.origin,
    time: r.time,
    locked: r.locked === 1,
    candidates: r.candidates ? JSON.parse(r.candidates) : [],
  };
}

/** A zone store on SQLite (better-sqlite3, WAL): the embedded default. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly zone: string;
  /** The database file (`:memory:` for none). */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly deps: StoreDeps;
  private closed = false;
  private checkpointer: Checkpointer | undefined;
  private releaseLock: () => void = () => {};
  private readonly q;

  constructor(opts: SqliteStoreOptions) {
    this.zone = opts.zone;
    this.file = opts.file;
    this.deps = opts;
    if (opts.file !== ':memory:') {
      mkdirSync(dirname(opts.file), { recursive: true });
      this.releaseLock = acquireFileLock(opts.file);
    }
    try {
      this.db = new Database(opts.file);
    } catch (e) {
      this.releaseLock();
      throw e;
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    const owner = this.db.prepare('SELECT v FROM meta WHERE k = ?').pluck().get('zone') as string | undefined;
    if (owner === undefined) this.db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)').run('zone', opts.zone);
    else if (owner !== opts.zone) {
      this.db.close();
      this.releaseLock();
      throw storeErrors.ERR_STORE_ZONE_MISMATCH(`${opts.file} holds zone ${owner}, not ${opts.zone}`);
    }
    if (opts.file !== ':memory:') {
      // checkpoints (and their fsync) happen in a worker thread, off the event loop
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Checkpointer(opts.file, opts.clock);
    }
    const db = this.db;
    this.q = {
      get: db.prepare<[string, string], Row>('SELECT * FROM records WHERE resource = ? AND key = ?'),
      upsert: db.prepare(
        `INSERT INTO records (resource, key, shard, cls, value, deleted, vv, version, origin, time, locked, candidates, locked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (resource, key) DO UPDATE SET shard = excluded.shard, cls = excluded.cls, value = excluded.value,
           deleted = excluded.deleted, vv = excluded.vv, version = excluded.version, origin = excluded.origin,
           time = excluded.time, locked = excluded.locked, candidates = excluded.candidates, locked_at = excluded.locked_at`,
      ),
      lockedAt: db
        .prepare<[string, string], number | null>('SELECT locked_at FROM records WHERE resource = ? AND key = ?')
        .pluck(),
      insertChange: db.prepare(
        `INSERT INTO changelog (shard, epoch, cls, resource, key, value, deleted, vv, version, time)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      changesAfter: db.prepare<[number, number], ChangeRow>(
        'SELECT * FROM changelog WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      lastSeq: db.prepare<[], number | null>('SELECT max(seq) FROM changelog').pluck(),
      prune: db.prepare('DELETE FROM changelog WHERE seq <= ? AND seq < (SELECT max(seq) FROM changelog)'),
      timeOf: db.prepare<[number], number>('SELECT time FROM changelog WHERE seq = ?').pluck(),
      cursor: db.prepare<[string], number>('SELECT seq FROM cursors WHERE origin = ?').pluck(),
      cursors: db.prepare<[], { origin: string; seq: number }>('SELECT origin, seq FROM cursors'),
      setCursor: db.prepare(
        'INSERT INTO cursors (origin, seq, time) VALUES (?, ?, ?) ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, time = excluded.time',
      ),
      meta: db.prepare<[string], string>('SELECT v FROM meta WHERE k = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v'),
      list: db.prepare<[string, string, string, number], Row>(
        'SELECT * FROM records WHERE resource = ? AND key >= ? AND key < ? AND (deleted = 0 OR locked = 1) ORDER BY key LIMIT ?',
      ),
      locked: db.prepare<[], Row>('SELECT * FROM records WHERE locked = 1 ORDER BY resource, key'),
      shards: db.prepare<[], { v: number }>(PRESENT_SHARDS_SQL('records')),
      shardFirst: db.prepare<[number, number], Row>(
        "SELECT * FROM records WHERE shard = ? AND cls != 'local' ORDER BY resource, key LIMIT ?",
      ),
      shardAfter: db.prepare<[number, string, string, number], Row>(
        "SELECT * FROM records WHERE shard = ? AND (resource, key) > (?, ?) AND cls != 'local' ORDER BY resource, key LIMIT ?",
      ),
      shard: db.prepare<[number], Row>(
        "SELECT * FROM records WHERE shard = ? AND cls != 'local' ORDER BY resource, key",
      ),
    };
  }

  private live(): void {
    if (this.closed) throw storeErrors.ERR_STORE_CLOSED(`store of ${this.zone} is closed`);
  }

  private read(resource: string, key: string): RecordState | undefined {
    const r = this.q.get.get(resource, key);
    return r ? toState(r) : undefined;
  }

  private save(s: RecordState, prevLockedAt: number | null | undefined, valueJson?: string, vvJson?: string): void {
    this.q.upsert.run(
      s.resource,
      s.key,
      s.shard,
      s.cls,
      valueJson ?? JSON.stringify(s.value ?? null),
      s.deleted ? 1 : 0,
      vvJson ?? JSON.stringify(s.vv),
      s.version,
      s.origin,
      s.time,
      s.locked ? 1 : 0,
      s.locked ? JSON.stringify(s.candidates) : null,
      s.locked ? (prevLockedAt ?? this.deps.clock.wallTime()) : null,
    );
  }

  /** Writes the record and its change-log entry; the change joins `out` (moved to the ring after commit). */
  private commitWrite(p: PlannedWrite, out: Change[]): WriteResult {
    const c = p.change;
    const vj = p.valueJson ?? JSON.stringify(c.value ?? null);
    const vvj = JSON.stringify(c.vv);
    this.save(p.state, null, vj, vvj);
    const info = this.q.insertChange.run(
      c.shard,
      c.epoch,
      c.cls,
      c.resource,
      c.key,
      vj,
      c.deleted ? 1 : 0,
      vvj,
      c.version,
      c.time,
    );
    const seq = Number(info.lastInsertRowid);
    const change: Change = { ...c, seq };
    Object.defineProperty(change, JSON_TEXT, { value: { value: vj, vv: vvj } });
    out.push(change);
    return { seq, version: c.version, vv: c.vv };
  }

  /**
   * Recent committed changes in seq order, so the shipper rarely reads the change log back
   * from disk (this process is the file's only writer, so the ring is always the newest).
   * Bounded: markShipped drops what the shipper has handed to the log (it never reads those
   * again), so it holds the changes not shipped yet, normally a batch or two; at most
   * RING_MAX while the log is away (then the oldest half goes; the table still has them).
   */
  private ring: Change[] = [];

  private remember(committed: Change[]): void {
    if (committed.length === 0) return;
    const last = this.ring[this.ring.length - 1];
    if (last && committed[0]!.seq !== last.seq + 1) this.ring = [];
    for (const c of committed) this.ring.push(c);
    if (this.ring.length > RING_MAX) this.ring = this.ring.slice(-RING_MAX / 2);
  }

  private readonly listeners = new Set<() => void>();

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * SQLite's errors that say the file cannot take writes now — disk full, an I/O error, a
   * read-only or vanished file, a lock held past the busy timeout — as ERR_STORE_UNAVAILABLE
   * naming the file (the router's 503); the transaction was rolled back, nothing acknowledged.
   * Any other error (a refused write, a bug) as it is.
   */
  private ioError(e: unknown): unknown {
    const code = (e as { code?: unknown })?.code;
    if (typeof code !== 'string' || !/^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY)/.test(code)) return e;
    const why = code.startsWith('SQLITE_FULL') ? 'the disk is full' : (e as Error).message;
    return storeErrors.ERR_STORE_UNAVAILABLE(
      `store of ${this.zone}: ${this.file} cannot take writes (${why}, ${code})`,
      {
        cause: e,
      },
    );
  }

  private io<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.ioError(e);
    }
  }

  private write<T>(fn: (out: Change[]) => T): T {
    const out: Change[] = [];
    const r = this.db.transaction(() => fn(out))();
    this.remember(out);
    if (out.length) for (const l of this.listeners) l();
    return r;
  }

  /**
   * Group commit: puts and putManys issued in the same turn of the event loop share one
   * transaction (fewer commits, fewer WAL frames per row — the shard index alone dirties a
   * page per shard touched), each caller's writes in a savepoint of their own, so one
   * refused write (fence, lock, ifVersion) fails only its own call, all or nothing as before.
   */
  private queue: { reqs: readonly WriteRequest[]; ok: (r: WriteResult[]) => void; fail: (e: unknown) => void }[] = [];

  private enqueue(reqs: readonly WriteRequest[]): Promise<WriteResult[]> {
    this.live();
    return new Promise((ok, fail) => {
      this.queue.push({ reqs, ok, fail });
      if (this.queue.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private writeAll(reqs: readonly WriteRequest[], out: Change[]): WriteResult[] {
    return reqs.map((req) => this.commitWrite(planWrite(this.deps, this.read(req.resource, req.key), req), out));
  }

  private flush(): void {
    const jobs = this.queue;
    this.queue = [];
    if (this.closed) {
      for (const j of jobs) j.fail(storeErrors.ERR_STORE_CLOSED(`store of ${this.zone} is closed`));
      return;
    }
    if (jobs.length === 1) {
      const j = jobs[0]!;
      let r: WriteResult[];
      try {
        r = this.write((out) => this.writeAll(j.reqs, out));
      } catch (e) {
        j.fail(this.ioError(e));
        return;
      }
      j.ok(r);
      return;
    }
    const done: ({ ok: WriteResult[] } | { err: unknown })[] = [];
    try {
      this.write((out) => {
        for (const j of jobs) {
          const mine: Change[] = [];
          try {
            // a nested better-sqlite3 transaction is a savepoint: a throw undoes only this job
            done.push({ ok: this.db.transaction(() => this.writeAll(j.reqs, mine))() });
            for (const c of mine) out.push(c);
          } catch (e) {
            done.push({ err: this.ioError(e) });
          }
        }
      });
    } catch (e) {
      for (const j of jobs) j.fail(this.ioError(e));
      return;
    }
    jobs.forEach((j, i) => {
      const d = done[i]!;
      if ('ok' in d) j.ok(d.ok);
      else j.fail(d.err);
    });
  }

  async get(resource: string, key: string): Promise<RecordView | undefined> {
    this.live();
    const s = this.read(resource, key);
    return s && (!s.deleted || s.locked) ? s : undefined;
  }

  async list(resource: string, prefix: string, limit = 1000): Promise<RecordView[]> {
    this.live();
    // the highest code point bounds every key with this prefix (SQLite compares bytes)
    return this.q.list.all(resource, prefix, `${prefix}\u{10FFFF}`, limit).map(toState);
  }

  async state(resource: string, key: string): Promise<RecordState | undefined> {
    this.live();
    return this.read(resource, key);
  }

  async put(req: WriteRequest): Promise<WriteResult> {
    const [r] = await this.enqueue([req]);
    return r!;
  }

  async putMany(reqs: readonly WriteRequest[]): Promise<WriteResult[]> {
    return this.enqueue(reqs);
  }

  async apply(origin: string, changes: readonly Change[], upTo = 0): Promise<ApplyResult> {
    this.live();
    return this.io(
      this.db.transaction(() => {
        const out: ApplyResult = { applied: 0, duplicates: 0, stale: 0, conflicts: 0, settled: 0, cursor: 0 };
        let cursor = this.q.cursor.get(origin) ?? 0;
        for (const c of changes) {
          if (c.seq <= cursor) {
            out.duplicates++;
            continue;
          }
          cursor = c.seq;
          const local = this.read(c.resource, c.key);
          const { state, outcome } = reconcile(local, stateOfChange(c), this.deps.policies.policyOf(c.resource));
          if (outcome === 'stale') out.stale++;
          else {
            // the common case stores the incoming version as is: reuse its encoded JSON
            const j = state.value === c.value && state.vv === c.vv ? jsonOf(c) : undefined;
            this.save(state, local?.locked ? this.q.lockedAt.get(c.resource, c.key) : null, j?.value, j?.vv);
            if (outcome === 'applied') out.applied++;
            else if (outcome === 'conflict') out.conflicts++;
            else out.settled++;
          }
        }
        cursor = Math.max(cursor, upTo);
        this.q.setCursor.run(origin, cursor, this.deps.clock.wallTime());
        out.cursor = cursor;
        return out;
      }),
    );
  }

  async cursor(origin: string): Promise<number> {
    this.live();
    return this.q.cursor.get(origin) ?? 0;
  }

  async cursors(): Promise<Record<string, number>> {
    this.live();
    return Object.fromEntries(this.q.cursors.all().map((r) => [r.origin, r.seq]));
  }

  async changesAfter(afterSeq: number, limit: number): Promise<Change[]> {
    this.live();
    const first = this.ring[0];
    if (first && first.seq <= afterSeq + 1) {
      const i = afterSeq + 1 - first.seq;
      return this.ring.slice(i, i + limit);
    }
    return this.q.changesAfter.all(afterSeq, limit).map((r) => ({
      seq: r.seq,
      origin: this.zone,
      shard: r.shard,
      epoch: r.epoch,
      cls: r.cls as Change['cls'],
      resource: r.resource,
      key: r.key,
      value: JSON.parse(r.value),
      deleted: r.deleted === 1,
      vv: JSON.parse(r.vv),
      version: r.version,
      time: r.time,
    }));
  }

  async lastSeq(): Promise<number> {
    this.live();
    return this.q.lastSeq.get() ?? 0;
  }

  async pruneChanges(throughSeq: number): Promise<number> {
    this.live();
    const n = this.io(() => this.q.prune.run(throughSeq).changes);
    // the ring must not serve what the log no longer holds (the newest entry always stays)
    const last = this.ring[this.ring.length - 1];
    this.ring = this.ring.filter((c) => c.seq > throughSeq || c === last);
    return n;
  }

  async timeOf(seq: number): Promise<number | undefined> {
    this.live();
    return this.q.timeOf.get(seq);
  }

  async shipped(): Promise<number> {
    this.live();
    return Number(this.q.meta.get('shipped') ?? 0);
  }

  async markShipped(seq: number): Promise<void> {
    this.live();
    this.io(() => this.q.setMeta.run('shipped', String(seq)));
    // shipped changes are never asked for again on the hot path (a drill's RPO count reads the
    // table); without this the ring kept RING_MAX of them, ~1.5 KB each, for hours (issue 24).
    // The newest entry stays, as in pruneChanges, so an idle shipper's poll needs no query.
    const first = this.ring[0];
    if (first) this.ring = this.ring.slice(Math.min(Math.max(0, seq + 1 - first.seq), this.ring.length - 1));
  }

  async conflicts(): Promise<Conflict[]> {
    this.live();
    return this.q.locked.all().map((r) => conflictOf(toState(r), r.locked_at ?? 0));
  }

  async resolve(id: string, pick: string): Promise<WriteResult> {
    this.live();
    const { resource, key } = parseConflictId(id);
    return this.write((out) => this.commitWrite(planResolve(this.deps, this.read(resource, key), id, pick), out));
  }

  /** The last digests and the stamp read before they were computed (see Store.digests). */
  private lastDigests: { stamp: string; digests: ShardDigests } | undefined;

  /** What moves whenever a replicated record may have changed: local writes, applies, repairs. */
  private stamp(): string {
    const cursors = this.q.cursors
      .all()
      .map((r) => `${r.origin}:${r.seq}`)
      .sort()
      .join(',');
    return `${this.q.lastSeq.get() ?? 0}|${cursors}|${this.q.meta.get('repairs') ?? 0}`;
  }

  async digests(): Promise<ShardDigests> {
    this.live();
    // read before hashing: a write while the pages are read moves it, so the next call hashes again
    const stamp = this.stamp();
    if (this.lastDigests?.stamp === stamp) return new Map(this.lastDigests.digests);
    const shards = this.q.shards.all().map((r) => r.v);
    const digests = await digestByShard(shards, (shard) => this.shardPages(shard));
    this.lastDigests = { stamp, digests };
    return new Map(digests);
  }

  /**
   * One shard's replicated records a page at a time, each page by (resource, key) after the
   * last one read (the (shard, resource, key) index), so the caller can let the event loop
   * run between pages; a store closed meanwhile throws.
   */
  private *shardPages(shard: number): Generator<RecordState[]> {
    this.live();
    let page = this.q.shardFirst.all(shard, DIGEST_PAGE);
    while (page.length) {
      yield page.map(toState);
      if (page.length < DIGEST_PAGE) return;
      const last = page[page.length - 1]!;
      this.live();
      page = this.q.shardAfter.all(shard, last.resource, last.key, DIGEST_PAGE);
    }
  }

  async shardRecords(shard: number): Promise<RecordState[]> {
    this.live();
    return this.q.shard.all(shard).map(toState);
  }

  async repair(states: readonly RecordState[]): Promise<number> {
    this.live();
    return this.io(
      this.db.transaction(() => {
        let changed = 0;
        for (const s of states) {
          const local = this.read(s.resource, s.key);
          const { state } = reconcile(local, s, this.deps.policies.policyOf(s.resource));
          if (local && stateDigest(local) === stateDigest(state)) continue;
          this.save(state, local?.locked ? this.q.lockedAt.get(s.resource, s.key) : null);
          changed++;
        }
        // repairs move no seq and no cursor: counted, so the digests' stamp moves
        if (changed) this.q.setMeta.run('repairs', String(Number(this.q.meta.get('repairs') ?? 0) + 1));
        return changed;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.checkpointer?.close();
    this.db.close();
    this.releaseLock();
  }
}
