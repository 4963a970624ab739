import type { PgConnection } from './pg-connection.ts';
import { readManySql, upsertSql } from './pg-record-sql.ts';
import { byKey, type PgRow, toState } from './pg-rows.ts';
import type { RecordState, ShardDigests } from './types.ts';
import { DIGEST_PAGE, digestByShard, PRESENT_SHARDS_SQL, reconcile, stateDigest } from './versions.ts';
import type { StoreDeps } from './write-plan.ts';

/**
 * Anti-entropy on PostgreSQL: per-shard digests of the replicated records (cached until
 * something that may change them moves), a shard's records, and repair with peers' states.
 */
export class PgAntiEntropy {
  constructor(
    private readonly conn: PgConnection,
    private readonly deps: StoreDeps,
    /** Throws ERR_STORE_CLOSED once the store is closed. */
    private readonly live: () => void,
  ) {}

  /** The last digests and the stamp read before they were computed (see Store.digests). */
  private lastDigests: { stamp: string; digests: ShardDigests } | undefined;

  /** Per-shard digests of the replicated records, recomputed only when the stamp moved (see Store.digests). */
  async digests(): Promise<ShardDigests> {
    const { t } = this.conn;
    this.live();
    // what moves whenever a replicated record may have changed (local writes bump seqs.last,
    // applies move a cursor, repairs count themselves), read before hashing: a write while the
    // shards are read moves it, so the next call hashes again
    const st = await this.conn.query<{ s: string }>(
      `SELECT (SELECT last FROM ${t('seqs')} WHERE id = 1)::text || '|' ||
         COALESCE((SELECT string_agg(origin || ':' || seq, ',' ORDER BY origin) FROM ${t('cursors')}), '') || '|' ||
         COALESCE((SELECT v FROM ${t('meta')} WHERE k = 'repairs'), '0') AS s`,
    );
    const stamp = st.rows[0]!.s;
    if (this.lastDigests?.stamp === stamp) return new Map(this.lastDigests.digests);
    const digests = await this.readDigests();
    this.lastDigests = { stamp, digests };
    return new Map(digests);
  }

  private async readDigests(): Promise<ShardDigests> {
    const { t } = this.conn;
    // a shard at a time (the records_by_shard index), not the whole table in one result
    const r = await this.conn.query<{ v: number }>(PRESENT_SHARDS_SQL(t('records')));
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

  /** One shard's replicated records, sorted by resource and key. */
  async shardRecords(shard: number): Promise<RecordState[]> {
    const { t } = this.conn;
    this.live();
    const r = await this.conn.query<PgRow>(
      `SELECT * FROM ${t('records')} WHERE shard = $1 AND cls <> 'local' ORDER BY resource COLLATE "C", key COLLATE "C"`,
      [shard],
    );
    return r.rows.map(toState);
  }

  /** Reconciles peers' states into the local records; returns how many changed. */
  async repair(states: readonly RecordState[]): Promise<number> {
    const { t } = this.conn;
    this.live();
    return this.conn.tx(async (c) => {
      await c.query(`SELECT last FROM ${t('seqs')} WHERE id = 1 FOR UPDATE`);
      const cur = byKey((await c.query<PgRow>(readManySql(t, states))).rows);
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
        await c.query(upsertSql(t, this.deps.clock, [...dirty.values()], ''));
        // repairs move no seq and no cursor: counted, so the digests' stamp moves
        await c.query(
          `INSERT INTO ${t('meta')} (k, v) VALUES ('repairs', '1')
           ON CONFLICT (k) DO UPDATE SET v = (${t('meta')}.v::bigint + 1)::text`,
        );
      }
      return dirty.size;
    });
  }
}
