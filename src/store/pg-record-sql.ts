import type { Clock } from '../core/clock.ts';
import type { TableName } from './pg-functions.ts';
import { jsonRows, num } from './sql-text.ts';
import type { RecordState } from './types.ts';

/** SQL that reads many records by (resource, key); no parameters (the keys are one jsonb literal). */
export function readManySql(t: TableName, keys: readonly { resource: string; key: string }[]): string {
  const seen = new Set<string>();
  const rows: { resource: string; key: string }[] = [];
  for (const k of keys) {
    const id = `${k.resource}\u0000${k.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    rows.push({ resource: k.resource, key: k.key });
  }
  return `SELECT r.* FROM ${t('records')} r JOIN jsonb_to_recordset(${jsonRows(rows)}) AS k(resource text, key text)
       ON r.resource = k.resource AND r.key = k.key`;
}

/**
 * SQL that upserts record states in one statement (keeping locked_at while a record stays
 * locked). `prefix` is a WITH clause run in the same statement (the change-log insert or the
 * cursor update). All data travels in one jsonb literal.
 */
export function upsertSql(t: TableName, clock: Clock, states: readonly RecordState[], prefix: string): string {
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
  const now = num(clock.wallTime());
  const r = t('records');
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
