import type pg from 'pg';
import { encodedBatch } from './pg-batch-encoding.ts';
import type { PgConnection } from './pg-connection.ts';
import { NEEDS_RECONCILE } from './pg-functions.ts';
import { readManySql, upsertSql } from './pg-record-sql.ts';
import { byKey, type PgRow } from './pg-rows.ts';
import { num, sqlLiteral } from './sql-text.ts';
import type { ApplyResult, Change, RecordState } from './types.ts';
import { reconcile, stateOfChange } from './versions.ts';
import { WalFlushWatch } from './wal-flush.ts';
import type { StoreDeps } from './write-plan.ts';

/**
 * After a batch whose plain INSERT met an existing key, this many batches go straight to the
 * upsert (an update-heavy workload would otherwise pay a failed insert per batch).
 */
const PLAIN_RETRY_AFTER = 16;

interface Flush {
  client: pg.Client;
  watch: WalFlushWatch;
}

function endFlush(f: Flush, e?: unknown): void {
  f.watch.close(e);
  f.client.removeAllListeners('end');
  void f.client.end().catch(() => {});
}

/**
 * Applies replicated changes: the common case in one round trip by apply_batch (see
 * pg-functions.ts), anything it refuses by reading the records and reconciling in JavaScript.
 *
 * Applies commit asynchronously (`synchronous_commit = off` for the apply's transaction only;
 * the zone's own writes keep the server's setting): the result's `durable` resolves once the
 * WAL is flushed past the commit, and the log acknowledges the batch only then, so a crash
 * that loses an apply (and its cursor) gets the batch back. The flush is read on a connection
 * of its own, open from before the commit (a crash ends every connection, so one that lives on
 * proves the server did not restart in between).
 */
export class PgApplier {
  /** Batches left to apply by upsert before apply_batch tries a plain INSERT again. */
  private plainSkips = 0;
  /** The flush watch being opened or open (one for every apply, whichever asks first). */
  private flush: Promise<Flush> | undefined;
  private current: Flush | undefined;
  private closed = false;

  constructor(
    private readonly conn: PgConnection,
    private readonly deps: StoreDeps,
  ) {}

  /** The flush watch on its own connection (opened again after it broke). */
  private watch(): Promise<WalFlushWatch> {
    if (this.closed) return Promise.reject(new Error('store closed'));
    this.flush ??= this.openFlush().catch((e: unknown) => {
      this.flush = undefined;
      throw e;
    });
    return this.flush.then((f) => f.watch);
  }

  private async openFlush(): Promise<Flush> {
    const client = await this.conn.dedicated();
    const f: Flush = { client, watch: new WalFlushWatch(client, this.deps.clock) };
    if (this.closed) {
      endFlush(f);
      throw new Error('store closed');
    }
    const broke = (e: Error) => {
      if (this.current !== f) return;
      this.current = undefined;
      this.flush = undefined;
      endFlush(f, e);
    };
    client.on('error', broke);
    client.on('end', () => broke(new Error('the WAL flush connection ended')));
    this.current = f;
    return f;
  }

  /** Ends the flush connection (the store closes). */
  close(): void {
    this.closed = true;
    const f = this.current;
    this.current = undefined;
    this.flush = undefined;
    if (f) endFlush(f);
  }

  /** Applies a replicated batch from origin: by apply_batch when it can, else reconciled here. */
  async apply(origin: string, changes: readonly Change[], upTo: number): Promise<ApplyResult> {
    // taken before the commit: a connection that outlives the commit proves no restart since
    const watch = await this.watch();
    const r = await this.applyOnce(origin, changes, upTo);
    const durable = watch.committed();
    // callers that ignore it (a repair) must not turn its failure into an unhandled rejection
    durable.catch(() => {});
    return { ...r, durable };
  }

  private async applyOnce(origin: string, changes: readonly Change[], upTo: number): Promise<ApplyResult> {
    const { t } = this.conn;
    const enc = encodedBatch(changes);
    if (enc.rows !== undefined && Number.isSafeInteger(upTo))
      try {
        const plain = this.plainSkips === 0;
        if (!plain) this.plainSkips--;
        const r = await this.conn.query({
          // prepared once per connection: each apply is then a bind and an execute
          name: `mz_apply_${this.conn.schema}`,
          // the setting lasts to the end of the statement's transaction, so its commit is asynchronous
          text: `SELECT set_config('synchronous_commit', 'off', true), ${t('apply_batch')}($1, $2::jsonb, $3, $4, $5) AS r`,
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
    const { t } = this.conn;
    const o = sqlLiteral(origin);
    return this.conn.folded(async (c) => {
      // lock the zone's sequence row (serialises with local writes), read the cursor, then the
      // records (a later statement, so a snapshot taken after the lock): one round trip
      const res = (await c.query(
        `BEGIN; SET LOCAL synchronous_commit = off; SELECT s.last, c.seq FROM ${t('seqs')} s LEFT JOIN ${t('cursors')} c ON c.origin = ${o}
         WHERE s.id = 1 FOR UPDATE OF s; ${readManySql(t, changes)}`,
      )) as unknown as pg.QueryResult[];
      const out: ApplyResult = { applied: 0, duplicates: 0, stale: 0, conflicts: 0, settled: 0, cursor: 0 };
      const cr = res[2]!.rows[0];
      let cursor = cr?.seq ? Number(cr.seq) : 0;
      const cur = byKey(res[3]!.rows as PgRow[]);
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
      const sql = upsertSql(
        t,
        this.deps.clock,
        [...dirty.values()],
        `WITH cur AS (INSERT INTO ${t('cursors')} (origin, seq, time) VALUES (${o}, ${cursor}, ${num(this.deps.clock.wallTime())})
         ON CONFLICT (origin) DO UPDATE SET seq = excluded.seq, time = excluded.time)`,
      );
      await c.query(`${sql}; COMMIT`);
      out.cursor = cursor;
      return out;
    });
  }
}
