import type { Clock, Timer } from '../core/clock.ts';
import type { EndpointEntry } from './probe-plan.ts';
import type { Vote } from './types.ts';

/** What remote votes work with. */
export interface RemoteVotesDeps {
  clock: Clock;
  intervalMs: number;
  /** A remote vote cast longer ago than this (by this process's wall clock) counts as unknown. */
  staleMs: number;
  /** Called when a vote changed state. */
  recompute(ep: EndpointEntry): void;
}

/**
 * Votes of prober zones in other processes (distributed mode). Each vote carries the wall time
 * it was cast; its freshness is judged by that time, never by when this process received it,
 * so reading the Kv at attach, a watch re-delivery or a replay after a healed partition cannot
 * make an old vote count again. A vote already stale on arrival counts as unknown, a vote older
 * than the one held is ignored, and the sweeper turns votes unknown once they grow stale, so a
 * dead process does not vote forever.
 */
export class RemoteVotes {
  /** The wall time (ms) the held vote was cast, keyed `prober|endpointId`. */
  private readonly cast = new Map<string, number>();
  private sweeper: Timer | null = null;

  constructor(
    private readonly d: RemoteVotesDeps,
    /** The remote prober zones. */
    private readonly remote: readonly string[],
    private readonly entries: ReadonlyMap<string, EndpointEntry>,
  ) {}

  /**
   * A remote prober's vote cast at `at` (wall ms; default: now, for a vote handed over in
   * process). Ignored: an unknown prober or endpoint, a vote not newer than the one held, and
   * a vote cast more than the stale bound in the future (the sender's clock is too far off).
   */
  apply(prober: string, endpointId: string, state: Vote['state'], at = this.d.clock.wallTime()): void {
    const ep = this.entries.get(endpointId);
    if (!ep || !this.remote.includes(prober) || !Number.isFinite(at)) return;
    const now = this.d.clock.wallTime();
    if (at - now > this.d.staleMs) return;
    const key = `${prober}|${endpointId}`;
    const held = this.cast.get(key);
    if (held !== undefined && at <= held) return; // a replay or re-delivery: no going back in time
    this.cast.set(key, at);
    const v = ep.votes.get(prober)!;
    v.lastProbeAt = at;
    const counted = this.fresh(at, now) ? state : 'unknown';
    if (v.state === counted) return;
    v.state = counted;
    this.d.recompute(ep);
  }

  /** Starts sweeping once per interval (when there are remote probers at all). */
  start(): void {
    if (this.remote.length > 0) this.sweeper = this.d.clock.setInterval(this.d.intervalMs, () => this.sweep());
  }

  /** Stops sweeping. */
  stop(): void {
    this.sweeper?.cancel();
    this.sweeper = null;
  }

  /** Cast no longer than the stale bound before `now` (wall ms). */
  private fresh(at: number, now: number): boolean {
    return now - at <= this.d.staleMs;
  }

  /** Votes that grew stale count as unknown: a dead process must not vote forever. */
  private sweep(): void {
    const now = this.d.clock.wallTime();
    for (const ep of this.entries.values())
      for (const p of this.remote) {
        const v = ep.votes.get(p)!;
        if (v.state === 'unknown') continue;
        const at = this.cast.get(`${p}|${ep.target.id}`);
        if (at === undefined || !this.fresh(at, now)) {
          v.state = 'unknown';
          this.d.recompute(ep);
        }
      }
  }
}
