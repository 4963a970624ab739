import type { Clock, Timer } from '../../core/clock.ts';

/**
 * A put this process made that a watch of its prefix has not delivered this long means the
 * watch stalled. A watch served by a server a partition cut off goes silent without an error:
 * nats.js notices a dead ordered consumer only after missing its 5 s idle heartbeats, and an
 * etcd member cut off from its leader keeps a watch stream open with nothing on it; both left
 * shard maps, leases and votes stale for 10 s and longer in the lab.
 */
export const WATCH_STALL_MS = 1500;
/** How soon a watch whose stream ended (or could not be recreated) is tried again. */
export const WATCH_RETRY_MS = 250;

/** One watch an adapter keeps alive: restarted from the revision after the last it delivered. */
export interface KeptWatch {
  readonly prefix: string;
  /** The last revision handed to the listener. */
  delivered: number;
  /** The oldest put of ours under the prefix not delivered yet. */
  unseen: { revision: number; at: number } | undefined;
  stopped: boolean;
  /** Drops the current stream and opens a new one from `delivered + 1`. */
  restart(): void;
}

/**
 * The stall check both distributed Kv adapters share: every acknowledged put of ours must come
 * back on each watch of its prefix within WATCH_STALL_MS, or every watch is restarted (they
 * share the fate of the server they sit on, and the `map.` watch sees too few of our own puts to
 * notice by itself).
 */
export class WatchKeeper {
  private readonly watches = new Set<KeptWatch>();
  private readonly timer: Timer;

  constructor(private readonly clock: Clock) {
    this.timer = clock.setInterval(WATCH_STALL_MS / 3, () => this.check());
  }

  add(w: KeptWatch): void {
    this.watches.add(w);
  }

  remove(w: KeptWatch): void {
    w.stopped = true;
    this.watches.delete(w);
  }

  /** A put of ours acknowledged at `revision`: every watch of its prefix must deliver it. */
  expect(key: string, revision: number): void {
    for (const w of this.watches)
      if ((w.prefix === '' || key.startsWith(w.prefix)) && w.delivered < revision && !w.unseen)
        w.unseen = { revision, at: this.clock.now() };
  }

  /**
   * Records that `w` handed `revision` to its listener; false when it was delivered already
   * (a restarted stream may repeat what the old one sent).
   */
  deliver(w: KeptWatch, revision: number): boolean {
    if (revision <= w.delivered) return false;
    w.delivered = revision;
    if (w.unseen && revision >= w.unseen.revision) w.unseen = undefined;
    return true;
  }

  /** Restarts every live watch now (the adapter moved to another server). */
  restartAll(): void {
    for (const w of this.watches) w.restart();
  }

  private check(): void {
    const now = this.clock.now();
    if ([...this.watches].some((w) => w.unseen && now - w.unseen.at >= WATCH_STALL_MS)) this.restartAll();
  }

  close(): void {
    this.timer.cancel();
    for (const w of this.watches) w.stopped = true;
    this.watches.clear();
  }
}
