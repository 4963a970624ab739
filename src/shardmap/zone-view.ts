import type { Clock, Timer } from '../core/clock.ts';
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
  /** Told when the view's watch stalled and it watches again (for the log). */
  onResync?: (why: string) => void;
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
  const watchdog = watchForStalls(view, keeper, o.clock, o.renewMs, o.onResync);
  return {
    zone: o.zone,
    view,
    keeper,
    stop() {
      watchdog.cancel();
      unwatch();
      unfault();
      keeper.stop();
      view.stop();
    },
    async leave() {
      watchdog.cancel();
      unwatch();
      unfault();
      await keeper.leave();
      view.stop();
    },
  };
}

/** Renewals the Kv acknowledged that a map may miss before its watch counts as stalled. */
const STALLED_AFTER_RENEWALS = 3;

/**
 * Every renewal of a local zone's lease comes back through a map's `lease.` watch, so a
 * renewal the Kv acknowledged that the map has not seen STALLED_AFTER_RENEWALS renewals later
 * means its watch stalled while the Kv answers: the map then goes by stale entries (moves
 * unseen, every other lease lapsed). Watch again. Why: in the lab a view stayed stale 10 s
 * past the Kv's recovery, and a process's map for minutes, after a NATS server was cut off.
 * The `map.` watch is checked by the other zones' leases instead (their `seen`: the newest
 * map revision they applied). Only evidence newer than the last resync counts, so one stall
 * means one resync.
 */
export function watchForStalls(
  map: ShardMap,
  keeper: LeaseKeeper,
  clock: Clock,
  renewMs: number,
  onResync?: (why: string) => void,
): Timer {
  let unseen: { revision: number; at: number } | undefined;
  /** Since when another zone says it applied a map revision this map has not (monotonic ms). */
  let behind: { revision: number; at: number } | undefined;
  let resyncing = false;
  let resyncedAt = Number.NEGATIVE_INFINITY;
  return clock.setInterval(renewMs, () => {
    const now = clock.now();
    const seen = map.lease(keeper.zone)?.revision ?? 0;
    if (unseen && seen >= unseen.revision) unseen = undefined;
    const ack = keeper.lastAck;
    if (!unseen && ack && ack.revision > seen && ack.at > resyncedAt) unseen = ack;
    // the `map.` watch sees none of our own puts (only the leader writes the map); the other
    // zones' leases say which map revision they applied, so a map behind them is stalled too
    const others = map.othersSeen(keeper.zone);
    if (behind && map.revision >= behind.revision) behind = undefined;
    if (!behind && others > map.revision) behind = { revision: others, at: Math.max(now, resyncedAt) };
    const stalled = (x: { at: number } | undefined) => x && now - x.at >= STALLED_AFTER_RENEWALS * renewMs;
    if (resyncing || !(stalled(unseen) || stalled(behind))) return;
    const why = stalled(unseen)
      ? `the Kv acknowledged lease revision ${unseen!.revision} of ${keeper.zone} ${Math.round(now - unseen!.at)} ms ago and the watch has not delivered it`
      : `other zones applied map revision ${behind!.revision} and this map is at ${map.revision}`;
    resyncing = true;
    unseen = undefined;
    behind = undefined;
    onResync?.(why);
    map
      .resync()
      .catch(() => {}) // out of reach: the next acknowledged renewal starts the count again
      .finally(() => {
        resyncing = false;
        resyncedAt = clock.now();
      });
  });
}
