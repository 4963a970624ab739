import type { AuditEntry } from '../failover/index.ts';
import type { AccountsWorkload } from './accounts-workload.ts';
import { controlJson, type ShardMapJson } from './control-http.ts';
import type { DrillPlan } from './plan.ts';
import type { Sample } from './traffic.ts';
import type { DrillOptions, DrillReport } from './types.ts';

/** A shard's owner at one epoch: the wall ms it took the shard, and the wall ms its writes may start (fenced moves). */
export interface EpochOwner {
  zone: string;
  at: number;
  notBefore: number;
}

/** Shard → epoch → owner: the start snapshot's owners, then every move the drill caused. */
export type OwnerHistory = Map<number, Map<number, EpochOwner>>;

/** What the audit log says happened to the shards during the drill. */
export interface ShardMoves {
  owners: OwnerHistory;
  /** Shards of the faulted zone that moved, by the zone they went to. */
  moved: Record<string, number>;
}

/** Reads the audit log after the traffic and turns it into each shard's owners and the zone's moves. */
export async function readShardMoves(plan: DrillPlan, zone: string): Promise<ShardMoves> {
  const audit = await controlJson<{ entries: AuditEntry[] }>(
    plan.control,
    `/api/audit?limit=10000&after=${plan.lastSeq}`,
  );
  const moves = shardMoves(audit.entries, plan.lastSeq);
  return { owners: ownerHistory(plan.shardMap.shards, moves), moved: movedFrom(moves, zone) };
}

/** The audit log's moves of real shards (not the global pseudo-shard) after `lastSeq`. */
export function shardMoves(entries: readonly AuditEntry[], lastSeq: number): AuditEntry[] {
  return entries.filter((e) => e.seq > lastSeq && e.action === 'move' && e.shards && e.to);
}

/** Each shard's owners by epoch: the start snapshot (owner since 0), then every move in order. */
export function ownerHistory(start: ShardMapJson['shards'], moves: readonly AuditEntry[]): OwnerHistory {
  const owners: OwnerHistory = new Map();
  for (const s of start) owners.set(s.shard, new Map([[s.epoch, { zone: s.zone, at: 0, notBefore: 0 }]]));
  for (const e of moves)
    for (const [shard, epoch] of e.shards ?? []) {
      if (shard === 'global') continue;
      owners.get(shard)?.set(epoch, { zone: e.to!, at: e.at, notBefore: e.notBefore ?? 0 });
    }
  return owners;
}

/** How many shards moved away from `zone`, by destination. */
export function movedFrom(moves: readonly AuditEntry[], zone: string): Record<string, number> {
  const moved: Record<string, number> = {};
  for (const e of moves)
    for (const [shard] of e.shards ?? [])
      if (shard !== 'global' && e.from === zone) moved[e.to!] = (moved[e.to!] ?? 0) + 1;
  return moved;
}

/**
 * Writes served by a zone that did not own the shard at that epoch, or at an epoch a newer one
 * had already superseded (on fenced shards: once the newer owner's writes could start). Reads
 * are not checked: replicated data may be read in any zone. A write whose shard or epoch the
 * history does not know is `unverifiable`.
 */
export function countMisroutedWrites(
  samples: readonly Sample[],
  owners: OwnerHistory,
  consistency: DrillOptions['consistency'],
): { writes: number; unverifiable: number } {
  const misrouted = { writes: 0, unverifiable: 0 };
  for (const s of samples) {
    if (!s.ok || !s.write || s.shard === undefined || !Number.isInteger(s.shard)) continue;
    const h = owners.get(s.shard);
    const own = h?.get(s.epoch ?? -1);
    if (!h || !own) {
      misrouted.unverifiable++;
      continue;
    }
    let bad = own.zone !== s.servedBy;
    // a write at epoch e after a newer epoch had become writable is a second writer
    if (!bad)
      for (const [epoch, later] of h)
        if (
          epoch > (s.epoch ?? 0) &&
          (s.servedAt ?? 0) >= Math.max(later.at, consistency === 'fenced' ? later.notBefore : 0)
        )
          bad = true;
    if (bad) misrouted.writes++;
  }
  return misrouted;
}

/**
 * Accounts app: looks for every write the drill got a 2xx for in every zone's own store (trust
 * no counter); what is missing is lost, and a lost write fails the goal.
 */
export async function verifyAckedWrites(
  report: DrillReport,
  accounts: AccountsWorkload,
  apps: Map<string, string>,
  timeoutMs: number,
): Promise<void> {
  report.readBack = await accounts.readBack(apps, timeoutMs);
  report.lost = report.readBack.missing;
  report.goal.met &&= report.lost === 0;
}
