import type { ShardId, ShardMapView } from '../shardmap/index.ts';
import { storeErrors } from './errors.ts';

/**
 * The write fence the store asks before accepting a write: does `zone` own `shard` at
 * `epoch`? Throws ERR_STORE_NOT_OWNER, ERR_STORE_FENCED or ERR_STORE_STALE_EPOCH. The shard map (src/shardmap)
 * is adapted to this by {@link fenceFromShardMap}; tests without one use {@link MemoryFence}.
 */
export interface WriteFence {
  /** `consistency` is the resource's (topology `consistency:`), for fences that treat them differently. */
  check(zone: string, shard: number, epoch: number, consistency?: 'fenced' | 'available'): void;
  /** The zone that owns the shard now (owner-wins conflict policy asks this). */
  owner(shard: number): string;
  /**
   * Optional: fences writes of global resources too (who holds the global role at which
   * epoch). Without it, global resources are written only in `topology.coreZone`.
   */
  checkGlobal?(zone: string, epoch: number): void;
}

/** An in-memory shard → (owner, epoch) table, starting from the topology's initial owners at epoch 1. */
export class MemoryFence implements WriteFence {
  private readonly owners: string[];
  private readonly epochs: number[];

  constructor(initialOwners: readonly string[]) {
    this.owners = [...initialOwners];
    this.epochs = initialOwners.map(() => 1);
  }

  check(zone: string, shard: number, epoch: number): void {
    const owner = this.owners[shard];
    if (owner === undefined)
      throw storeErrors.ERR_STORE_BAD_SHARD(`shard ${shard} is outside 0..${this.owners.length - 1}`, {
        details: { shard },
      });
    if (owner !== zone)
      throw storeErrors.ERR_STORE_NOT_OWNER(`shard ${shard} is owned by ${owner}, not ${zone}`, {
        details: { shard, owner, zone },
      });
    const current = this.epochs[shard]!;
    if (epoch !== current)
      throw storeErrors.ERR_STORE_STALE_EPOCH(`shard ${shard} is at epoch ${current}, the write carries ${epoch}`, {
        details: { shard, epoch, current },
      });
  }

  owner(shard: number): string {
    return this.owners[shard] ?? '';
  }

  /** Current epoch of a shard. */
  epoch(shard: number): number {
    return this.epochs[shard] ?? 0;
  }

  /** Moves a shard to another zone with epoch + 1 (what failover does). */
  move(shard: number, zone: string): number {
    this.owners[shard] = zone;
    this.epochs[shard] = (this.epochs[shard] ?? 0) + 1;
    return this.epochs[shard]!;
  }

  /** Moves every shard `from` owns to `to`; returns the shards moved. */
  moveAll(from: string, to: string): number[] {
    const moved: number[] = [];
    this.owners.forEach((z, s) => {
      if (z === from) {
        this.move(s, to);
        moved.push(s);
      }
    });
    return moved;
  }
}

/**
 * What the store reads of the shard map: who owns a shard at which epoch, and may a zone write
 * it. The shard map's `ShardMapView` satisfies it; `owner` may also answer undefined (a map
 * that does not know the shard yet), which the fence reports as ERR_STORE_BAD_SHARD.
 */
export interface ShardMapLike {
  owner(shard: ShardId): { zone: string; epoch: number } | undefined;
  canWrite: ShardMapView['canWrite'];
}

/**
 * Adapts a shard map with leases and epochs to the store's WriteFence, with the store's
 * error codes. With `global: true` the map's `global` entry fences global resources too
 * (so they follow the global role when failover moves it off the core zone).
 */
export function fenceFromShardMap(map: ShardMapLike, opts: { global?: boolean } = {}): WriteFence {
  const checkGlobal = (zone: string, epoch: number) => {
    if (map.canWrite(zone, 'global', epoch)) return;
    const o = map.owner('global');
    if (o && o.zone === zone && o.epoch !== epoch)
      throw storeErrors.ERR_STORE_STALE_EPOCH(`the global role is at epoch ${o.epoch}, the write carries ${epoch}`, {
        details: { shard: 'global', epoch, current: o.epoch },
      });
    throw storeErrors.ERR_STORE_NOT_CORE(`global resources are written by ${o?.zone ?? 'nobody'} now, not ${zone}`, {
      details: { core: o?.zone, zone },
    });
  };
  return {
    ...(opts.global ? { checkGlobal } : {}),
    check(zone, shard, epoch, consistency) {
      if (map.canWrite(zone, shard, epoch, consistency)) return;
      const o = map.owner(shard);
      if (!o)
        throw storeErrors.ERR_STORE_BAD_SHARD(`shard ${shard} has no owner in the shard map`, { details: { shard } });
      if (o.zone === zone && o.epoch !== epoch)
        throw storeErrors.ERR_STORE_STALE_EPOCH(`shard ${shard} is at epoch ${o.epoch}, the write carries ${epoch}`, {
          details: { shard, epoch, current: o.epoch },
        });
      // ours at this epoch, but the lease lapsed, the shard is draining or the old owner's lease
      // is not out yet: a wait, not a misdirected request (421 would send the client elsewhere)
      if (o.zone === zone)
        throw storeErrors.ERR_STORE_FENCED(`shard ${shard} is ${zone}'s at epoch ${o.epoch} but not writable now`, {
          details: { shard, owner: o.zone, epoch: o.epoch, zone },
        });
      throw storeErrors.ERR_STORE_NOT_OWNER(
        `shard ${shard} is owned by ${o.zone} at epoch ${o.epoch}, not writable by ${zone}`,
        {
          details: { shard, owner: o.zone, epoch: o.epoch, zone },
        },
      );
    },
    owner: (shard) => map.owner(shard)?.zone ?? '',
  };
}
