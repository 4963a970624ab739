import type { Change } from './types.ts';

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
/** A batch encoded for apply_batch. */
export interface Encoded {
  /** The changes it was made from: an array refilled since is encoded afresh. */
  of: readonly Change[];
  rows?: string;
}
/** The batch encoded for apply_batch, worked out once per array (see above). */
export function encodedBatch(changes: readonly Change[]): Encoded {
  const held = (changes as { [ENCODED]?: Encoded })[ENCODED];
  if (held && held.of.length === changes.length && held.of.every((c, i) => c === changes[i])) return held;
  const enc: Encoded = { of: [...changes], rows: inSqlShape(changes) ? changeRows(changes) : undefined };
  if (Object.isExtensible(changes))
    Object.defineProperty(changes, ENCODED, { value: enc, configurable: true, writable: true });
  return enc;
}

/**
 * Changes as JSON for write_changes and apply_batch: an array per change, not an object —
 * PostgreSQL's jsonb input spends most of its time on object keys (50 changes: ~0.35 ms as
 * objects, ~0.15 ms as arrays, measured here). Positions are read by CHANGE_COLUMNS.
 */
export function changeRows(changes: readonly Change[], valueJson?: readonly (string | undefined)[]): string {
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
