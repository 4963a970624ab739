import type { Clock } from '../core/clock.ts';
import { shardmapErrors } from './errors.ts';
import {
  GLOBAL,
  type MapMirror,
  type ShardId,
  type ShardMapView,
  type ShardOwner,
  waitForEpochIn,
} from './shard-map.ts';

/**
 * A zone's view of the shard map copied into another process (a router worker): it answers
 * what the router asks (`entry`, `canWrite`, `waitForEpoch`, `ready`) from the last
 * ShardMap.mirror() it was given. Leases are wall-clock expiries its zone's process computed
 * from its own keeper, so a copy never holds a lease longer than the keeper does; one that
 * stops receiving copies sees the lease lapse on time.
 */
export class ShardMapMirror implements Pick<ShardMapView, 'entry' | 'canWrite' | 'waitForEpoch' | 'ready'> {
  private revision = 0;
  private global: ShardOwner | null = null;
  private shards: (ShardOwner | null)[] = [];
  private leases: Record<string, number> = {};
  private readonly waiters = new Set<() => void>();
  /** Every shard has an owner in the copy (judged once per copy, not per request). */
  private complete = false;

  constructor(private readonly clock: Clock) {}

  /** Takes a copy: its leases always, its owners when it has them and is not older than ours. */
  restore(m: MapMirror): void {
    this.leases = m.leases;
    if (m.shards === undefined || m.revision < this.revision) return;
    this.revision = m.revision;
    this.global = m.global ?? null;
    this.shards = m.shards;
    this.complete = this.global !== null && this.shards.length > 0 && this.shards.every((o) => o !== null);
    for (const w of [...this.waiters]) w();
  }

  ready(): boolean {
    return this.complete;
  }

  entry(shard: ShardId): ShardOwner {
    const o = shard === GLOBAL ? this.global : this.shards[shard];
    if (!o) throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`shard map: no owner known for shard ${shard}`);
    return o;
  }

  canWrite(zone: string, shard: ShardId, epoch: number, consistency: 'fenced' | 'available' = 'fenced'): boolean {
    const o = shard === GLOBAL ? this.global : this.shards[shard];
    if (!o || o.zone !== zone || o.epoch !== epoch || o.draining) return false;
    const now = this.clock.wallTime();
    if (consistency === 'fenced' && o.notBefore > now) return false;
    return (this.leases[zone] ?? 0) > now;
  }

  /** Resolves true once shard's epoch reaches epoch (a later copy brings it), false after ms. */
  waitForEpoch(shard: ShardId, epoch: number, ms: number): Promise<boolean> {
    const have = () => (shard === GLOBAL ? this.global : this.shards[shard])?.epoch ?? 0;
    return waitForEpochIn(this.waiters, this.clock, have, epoch, ms);
  }
}
