import type { Clock } from '../../core/clock.ts';
import { type ShardChange, shardForKey } from '../../shardmap/index.ts';
import type { ResolvedTable } from './table-checks.ts';

/** Who owns what, as the decoder checks it: the shard map's owner of a shard (or of `global`) at its epoch. */
export interface TableOwnership {
  owner(shard: number | 'global'): { zone: string; epoch: number };
  /**
   * Wall ms until which `zone` held `shard` before it moved away (none: no such move seen).
   * A write that zone committed before then was its own to make, even when it is decoded
   * after the move.
   */
  ownedUntil?(shard: number | 'global', zone: string): number | undefined;
  shardCount: number;
  hash: 'fnv1a' | 'modulo';
}

/**
 * Until when each former owner held each shard, from the shard map's changes: a failover
 * moves a shard with `notBefore` = the old owner's lease end (plus skew), so the old owner's
 * writes up to then were fenced-legal; a move without it counts until this process saw it.
 */
export class OwnerHistory {
  private readonly until = new Map<string, number>();

  constructor(private readonly clock: Pick<Clock, 'wallTime'>) {}

  observe(c: ShardChange): void {
    if (!c.previous || c.previous.zone === c.owner.zone) return;
    const at = c.owner.notBefore > 0 ? c.owner.notBefore : this.clock.wallTime();
    this.until.set(`${c.shard}\u0000${c.previous.zone}`, at);
  }

  ownedUntil(shard: number | 'global', zone: string): number | undefined {
    return this.until.get(`${shard}\u0000${zone}`);
  }
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
