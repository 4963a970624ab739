import type { RecordState } from './types.ts';

/** A row of a zone's `records` table as node-postgres returns it. */
export interface PgRow {
  resource: string;
  key: string;
  shard: number;
  cls: string;
  value: unknown;
  deleted: boolean;
  vv: Record<string, number>;
  /** bigint: a string. */
  version: string;
  origin: string;
  time: number;
  locked: boolean;
  candidates: RecordState['candidates'] | null;
  locked_at: number | null;
}

/** A records row as a RecordState. */
export function toState(r: PgRow): RecordState {
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

/** Records rows as states by `resource\0key`. */
export function byKey(rows: readonly PgRow[]): Map<string, RecordState> {
  const out = new Map<string, RecordState>();
  for (const row of rows) out.set(`${row.resource}\u0000${row.key}`, toState(row));
  return out;
}
