import { shardForKey } from '../../shardmap/index.ts';
import type { ResolvedTable } from './table-checks.ts';

/** Who owns what, as the decoder checks it: the shard map's owner of a shard (or of `global`) at its epoch. */
export interface TableOwnership {
  owner(shard: number | 'global'): { zone: string; epoch: number };
  shardCount: number;
  hash: 'fnv1a' | 'modulo';
}

/**
 * A row's shard: `shard: { column }` hashes that column's value like the router hashes user
 * ids; `shard: { pattern }` reads `(?<shard>…)` (the number itself) or `(?<key>…)` (hashed)
 * from the key text; without `shard:` the key text is hashed.
 */
export function shardOfRow(
  t: ResolvedTable,
  key: string,
  row: Record<string, unknown>,
  own: Pick<TableOwnership, 'shardCount' | 'hash'>,
): number {
  const s = t.config.shard;
  if (s && 'column' in s) return shardForKey(String(row[s.column] ?? ''), own.shardCount, own.hash);
  if (s && 'pattern' in s) {
    const m = new RegExp(s.pattern).exec(key);
    const g = m?.groups;
    if (g?.shard !== undefined) return Number(g.shard) % own.shardCount;
    if (g?.key !== undefined) return shardForKey(g.key, own.shardCount, own.hash);
  }
  return shardForKey(key, own.shardCount, own.hash);
}
