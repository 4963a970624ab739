import type { Clock, Timer } from '../core/clock.ts';
import type { EndpointEntry } from './probe-plan.ts';
import type { Vote } from './types.ts';

/** What remote votes work with. */
export interface RemoteVotesDeps {
  clock: Clock;
  intervalMs: number;
  /** A remote vote not refreshed for this long counts as unknown. */
  staleMs: number;
  /** Called when a vote changed state. */
  recompute(ep: EndpointEntry): void;
}

/**
 * Votes of prober zones in other processes (distributed mode): applied as they arrive, and
 * swept back to unknown when not refreshed, so a dead process does not vote forever.
 */
export class RemoteVotes {
  /** When each remote vote was last heard of (monotonic ms), keyed `prober|endpointId`. */
  private readonly heard = new Map<string, number>();
  private sweeper: Timer | null = null;

  constructor(
    private readonly d: RemoteVotesDeps,
    /** The remote prober zones. */
    private readonly remote: readonly string[],
    private readonly entries: ReadonlyMap<string, EndpointEntry>,
  ) {}

  /** A remote prober's vote; unknown prober or endpoint: ignored. */
  apply(prober: string, endpointId: string, state: Vote['state']): void {
    const ep = this.entries.get(endpointId);
    if (!ep || !this.remote.includes(prober)) return;
    this.heard.set(`${prober}|${endpointId}`, this.d.clock.now());
    const v = ep.votes.get(prober)!;
    v.lastProbeAt = this.d.clock.wallTime();
    if (v.state === state) return;
    v.state = state;
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

  /** Remote votes nobody refreshed count as unknown: a dead process must not vote forever. */
  private sweep(): void {
    const now = this.d.clock.now();
    for (const ep of this.entries.values())
      for (const p of this.remote) {
        const v = ep.votes.get(p)!;
        const heard = this.heard.get(`${p}|${ep.target.id}`);
        if (v.state !== 'unknown' && (heard === undefined || now - heard > this.d.staleMs)) {
          v.state = 'unknown';
          this.d.recompute(ep);
        }
      }
  }
}
