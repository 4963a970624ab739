import type { Clock } from '../core/clock.ts';
import type { ZoneFaults } from './faults.ts';
import type { Kv } from './kv/kv.ts';
import { PartitionableKv } from './kv/partitionable-kv.ts';
import { LeaseKeeper } from './lease.ts';
import { ShardMap } from './shard-map.ts';

/** A zone's own view of the shard map and the lease it holds, as its router uses them. */
export interface ZoneView {
  readonly zone: string;
  readonly view: ShardMap;
  readonly keeper: LeaseKeeper;
  /** Stops watching, renewing and the fault listener (the lease then lapses on its own). */
  stop(): void;
  /** A clean shutdown: as stop(), and the lease record says the zone left (restarting). */
  leave(): Promise<void>;
}

/**
 * Opens a zone's view through a partitionable handle on the control Kv, so a drill's
 * isolation cuts this zone off the map as a real partition would, and starts its lease.
 * A drain of the zone's own shards is acknowledged at once (a planned failover waits for it).
 */
export async function openZoneView(o: {
  kv: Kv;
  zone: string;
  shards: number;
  clock: Clock;
  leaseMs: number;
  renewMs: number;
  faults: ZoneFaults;
}): Promise<ZoneView> {
  const zkv = new PartitionableKv(o.kv, o.zone);
  const view = await new ShardMap(zkv, o.shards, o.clock).start();
  const keeper = new LeaseKeeper({
    kv: zkv,
    zone: o.zone,
    clock: o.clock,
    leaseMs: o.leaseMs,
    renewMs: o.renewMs,
    seen: () => view.revision,
  });
  view.attachLease(keeper);
  const unwatch = view.watch((c) => {
    if (c.owner.zone === o.zone && c.owner.draining) void keeper.renewFresh();
  });
  const unfault = o.faults.onChange((z) => {
    if (z === o.zone) zkv.setIsolated(o.faults.isIsolated(z));
  });
  await keeper.start();
  return {
    zone: o.zone,
    view,
    keeper,
    stop() {
      unwatch();
      unfault();
      keeper.stop();
      view.stop();
    },
    async leave() {
      unwatch();
      unfault();
      await keeper.leave();
      view.stop();
    },
  };
}
