import type pg from 'pg';
import { changeRows } from './pg-batch-encoding.ts';
import type { PgConnection } from './pg-connection.ts';
import { readManySql } from './pg-record-sql.ts';
import { byKey, type PgRow } from './pg-rows.ts';
import { sqlLiteral } from './sql-text.ts';
import type { Change, RecordState, WriteResult } from './types.ts';
import type { PlannedWrite } from './write-plan.ts';

/** A record as the write's transaction read it (after the sequence row lock). */
export type ReadRecord = (resource: string, key: string) => RecordState | undefined;

/**
 * Plans and commits local writes (puts or a resolution) in one transaction (two round trips):
 * one change per key in `keys`, planned by `plan` over the records as they are under the lock.
 * Returns each write's result and the committed changes, in seq order.
 */
export async function commitWrites(
  conn: PgConnection,
  keys: readonly { resource: string; key: string }[],
  plan: (read: ReadRecord) => PlannedWrite[],
): Promise<{ results: WriteResult[]; committed: Change[] }> {
  const { t } = conn;
  const n = keys.length;
  const committed: Change[] = [];
  const results = await conn.folded(async (c) => {
    // every request yields exactly one change (or the whole transaction fails), so allocate the
    // seqs up front; the row lock also serialises this zone's writers, so the read after it
    // (its own statement, so its own snapshot) is current
    const res = (await c.query(
      `BEGIN; UPDATE ${t('seqs')} SET last = last + ${n} WHERE id = 1 RETURNING last; ${readManySql(t, keys)}`,
    )) as unknown as pg.QueryResult[];
    const base = Number(res[1]!.rows[0].last) - n;
    const cur = byKey(res[2]!.rows as PgRow[]);
    // a planned state is its change (build() makes both from the same fields), so the records
    // are written from the changes: write_changes keeps each key's last
    const planned = plan((resource, key) => cur.get(`${resource}\u0000${key}`));
    const ch = planned.map((p, i) => ({ ...p.change, seq: base + i + 1 }) as Change);
    const rows = changeRows(
      ch,
      planned.map((p) => p.valueJson),
    );
    await c.query(`SELECT ${t('write_changes')}(${sqlLiteral(rows)}::jsonb); COMMIT`);
    for (const x of ch) committed.push(x);
    return ch.map((x) => ({ seq: x.seq, version: x.version, vv: x.vv }));
  });
  return { results, committed };
}
