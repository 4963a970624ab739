import type pg from 'pg';
import { ChangeRing } from './change-ring.ts';
import { storeErrors } from './errors.ts';
import { PgAntiEntropy } from './pg-anti-entropy.ts';
import { PgApplier } from './pg-apply.ts';
import { openPool, PgConnection } from './pg-connection.ts';
import type { PgStoreOptions } from './pg-options.ts';
import { type PgRow, toState } from './pg-rows.ts';
import { ensureSchema } from './pg-schema.ts';
import { commitWrites, type ReadRecord } from './pg-write-path.ts';
import { ident } from './sql-text.ts';

export type { PgStoreOptions } from './pg-options.ts';

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
import {
  conflictOf,
  type PlannedWrite,
  parseConflictId,
  planResolve,
  planWrite,
  type StoreDeps,
} from './write-plan.ts';

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
  private readonly conn: PgConnection;
  private readonly ring = new ChangeRing();
  private readonly applier: PgApplier;
  private readonly antiEntropy: PgAntiEntropy;
  private readonly listeners = new Set<() => void>();

  private constructor(
    private readonly deps: StoreDeps,
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    schema: string,
  ) {
    this.zone = deps.zone;
    this.schema = schema;
    this.conn = new PgConnection(pool, this.zone, schema);
    this.applier = new PgApplier(this.conn, deps);
    this.antiEntropy = new PgAntiEntropy(this.conn, deps, () => this.live());
  }

  /** Connects, checks durability settings, creates the zone's schema if needed. */
  static async open(opts: PgStoreOptions): Promise<PgStore> {
    const { pool, ownsPool } = openPool(opts);
    const schema = opts.schema ?? `mz_${opts.zone.replace(/-/g, '_')}`;
    const store = new PgStore(opts, pool, ownsPool, schema);
    try {
      await ensureSchema(store.conn, store.zone);
    } catch (e) {
      if (ownsPool) await pool.end();
      throw e;
    }
    return store;
  }

  private live(): void {
    if (this.closed) throw storeErrors.ERR_STORE_CLOSED(`store of ${this.zone} is closed`);
  }

  /** Plans and commits local writes (see commitWrites), then keeps the changes and tells the listeners. */
  private async commit(
    keys: readonly { resource: string; key: string }[],
    plan: (read: ReadRecord) => PlannedWrite[],
  ): Promise<WriteResult[]> {
    this.live();
    const { results, committed } = await commitWrites(this.conn, keys, plan);
    this.ring.remember(committed);
    for (const l of this.listeners) l();
    return results;
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async list(resource: string, prefix: string, limit = 1000): Promise<RecordView[]> {
    this.live();
    const r = await this.conn.query<PgRow>(
      `SELECT * FROM ${this.conn.t('records')} WHERE resource = $1 AND starts_with(key, $2) AND (NOT deleted OR locked)
       ORDER BY key COLLATE "C" LIMIT $3`,
      [resource, prefix, limit],
    );
    return r.rows.map(toState);
  }

  async state(resource: string, key: string): Promise<RecordState | undefined> {
    this.live();
    const r = await this.conn.query<PgRow>(`SELECT * FROM ${this.conn.t('records')} WHERE resource = $1 AND key = $2`, [
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
    return this.applier.apply(origin, changes, upTo);
  }

  async cursor(origin: string): Promise<number> {
    this.live();
    const r = await this.conn.query(`SELECT seq FROM ${this.conn.t('cursors')} WHERE origin = $1`, [origin]);
    return r.rows[0] ? Number(r.rows[0].seq) : 0;
  }

  async cursors(): Promise<Record<string, number>> {
    this.live();
    const r = await this.conn.query(`SELECT origin, seq FROM ${this.conn.t('cursors')}`);
    return Object.fromEntries(r.rows.map((x) => [x.origin as string, Number(x.seq)]));
  }

  async changesAfter(afterSeq: number, limit: number): Promise<Change[]> {
    this.live();
    const held = this.ring.after(afterSeq, limit);
    if (held) return held;
    const r = await this.conn.query(`SELECT * FROM ${this.conn.t('changelog')} WHERE seq > $1 ORDER BY seq LIMIT $2`, [
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
    const r = await this.conn.query(`SELECT last FROM ${this.conn.t('seqs')} WHERE id = 1`);
    return Number(r.rows[0]?.last ?? 0);
  }

  async pruneChanges(throughSeq: number): Promise<number> {
    this.live();
    // the sequence lives in seqs, so even an empty change log never reuses a number
    const r = await this.conn.query(`DELETE FROM ${this.conn.t('changelog')} WHERE seq <= $1`, [throughSeq]);
    this.ring.prune(throughSeq);
    return r.rowCount ?? 0;
  }

  async timeOf(seq: number): Promise<number | undefined> {
    this.live();
    const r = await this.conn.query(`SELECT time FROM ${this.conn.t('changelog')} WHERE seq = $1`, [seq]);
    return r.rows[0]?.time;
  }

  async shipped(): Promise<number> {
    this.live();
    const r = await this.conn.query(`SELECT v FROM ${this.conn.t('meta')} WHERE k = 'shipped'`);
    return Number(r.rows[0]?.v ?? 0);
  }

  async markShipped(seq: number): Promise<void> {
    this.live();
    await this.conn.query(
      `INSERT INTO ${this.conn.t('meta')} (k, v) VALUES ('shipped', $1) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
      [String(seq)],
    );
    // the shipper never reads shipped changes again: the ring keeps only what is not shipped yet
    this.ring.prune(seq);
  }

  async conflicts(): Promise<Conflict[]> {
    this.live();
    const r = await this.conn.query<PgRow>(
      `SELECT * FROM ${this.conn.t('records')} WHERE locked ORDER BY resource, key`,
    );
    return r.rows.map((x) => conflictOf(toState(x), x.locked_at ?? 0));
  }

  digests(): Promise<ShardDigests> {
    return this.antiEntropy.digests();
  }

  shardRecords(shard: number): Promise<RecordState[]> {
    return this.antiEntropy.shardRecords(shard);
  }

  repair(states: readonly RecordState[]): Promise<number> {
    return this.antiEntropy.repair(states);
  }

  /** Drops this zone's schema (tests clean up with it). */
  async dropSchema(): Promise<void> {
    await this.conn.query(`DROP SCHEMA IF EXISTS ${ident(this.schema)} CASCADE`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.applier.close();
    if (this.ownsPool) await this.pool.end();
  }
}
