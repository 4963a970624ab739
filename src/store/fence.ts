import { storeErrors } from './errors.ts';

/**
 * The write fence the store asks before accepting a write: does `zone` own `shard` at
 * `epoch`? Throws ERR_STORE_NOT_OWNER or ERR_STORE_STALE_EPOCH. The failover shard map
 * (src/failover) is adapted to this by the integrator; tests and the embedded default use
 * {@link MemoryFence}.
 */
export interface WriteFence {
  check(zone: string, shard: number, epoch: number): void;
  /** The zone that owns the shard now (owner-wins conflict policy asks this). */
  owner(shard: number): string;
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
