import type { Clock, Timer } from '../core/clock.ts';
import { settledWithin } from '../core/deadline.ts';
import type { Kv } from './kv/kv.ts';
import { type LocalLease, leaseKey } from './shard-map.ts';

/**
 * Keeps one zone's lease alive: renews `lease.<zone>` every renewMs. The zone may write only
 * while valid(), judged on its own monotonic clock from the moment each renewal was *sent*,
 * so a zone cut off from the Kv stops writing no later than the expiry others see.
 */
export class LeaseKeeper implements LocalLease {
  private localExpiry = Number.NEGATIVE_INFINITY;
  private timer: Timer | undefined;
  private inflight: Promise<void> | undefined;
  private revision: number | undefined;
  /** Attempts started; only the newest one's outcome sets `revision`. */
  private attempts = 0;
  /** Monotonic ms of the last reconnect asked of the Kv (see suspectConnection). */
  private reconnectedAt = Number.NEGATIVE_INFINITY;
  /** The newest renewal the Kv acknowledged: its revision, and when (monotonic ms). */
  lastAck: { revision: number; at: number } | undefined;
  /** Renewals that failed (Kv unreachable, lost CAS). */
  failures = 0;

  constructor(
    private readonly opts: {
      kv: Kv;
      zone: string;
      clock: Clock;
      leaseMs: number;
      renewMs: number;
      /** The newest map revision this zone has applied (acknowledges drains). */
      seen?: () => number;
    },
  ) {}

  get zone(): string {
    return this.opts.zone;
  }

  valid(): boolean {
    return this.opts.clock.now() < this.localExpiry;
  }

  /** Monotonic ms until the lease lapses (negative once lapsed). */
  remainingMs(): number {
    return this.localExpiry - this.opts.clock.now();
  }

  /** Renews now and then every renewMs. Resolves after the first attempt. */
  async start(): Promise<void> {
    this.timer?.cancel();
    this.timer = this.opts.clock.setInterval(this.opts.renewMs, () => void this.renew());
    await this.renew();
  }

  /** Stops renewing (a killed zone); the lease lapses on its own. */
  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * A clean shutdown: stops renewing and marks the record `left` (its expiry unchanged, so
   * nothing is writable any sooner). The controller then reads a lapsed lease as a restart
   * under way rather than a dead zone, for a while (see FailoverController).
   */
  async leave(): Promise<void> {
    this.stop();
    await this.inflight;
    const { kv, zone, clock } = this.opts;
    try {
      const e = await kv.get(leaseKey(zone));
      if (!e?.value) return;
      const v = JSON.parse(e.value) as Record<string, unknown>;
      await kv.put(leaseKey(zone), JSON.stringify({ ...v, left: clock.wallTime() }), { expect: e.revision });
    } catch {
      // the Kv is out of reach: the lease lapses as after a crash
    }
  }

  /**
   * One renewal; concurrent calls share it. An attempt the Kv has not answered within
   * renewMs is given up (a leaderless NATS stream swallows a put until its 2 s request
   * timeout): the next tick tries again, so the lease comes back within one renewMs of the
   * Kv answering instead of a timeout later. A late answer to a given-up attempt still
   * extends the lease from that attempt's send time, which stays conservative.
   */
  renew(): Promise<void> {
    if (this.inflight) return this.inflight;
    const n = ++this.attempts;
    const current = settledWithin(this.opts.clock, this.doRenew(n), this.opts.renewMs)
      .then((inTime) => {
        if (inTime) return;
        if (n === this.attempts) this.revision = undefined;
        this.suspectConnection();
      })
      .finally(() => {
        if (this.inflight === current) this.inflight = undefined;
      });
    this.inflight = current;
    return current;
  }

  /**
   * An unanswered renewal: the Kv connection may go to a server a partition cut off, which
   * no RST reveals. Reconnect elsewhere at once — at most once a lease, since a leaderless
   * Kv also leaves renewals unanswered and reconnecting does not help then.
   */
  private suspectConnection(): void {
    const now = this.opts.clock.now();
    if (now - this.reconnectedAt < this.opts.leaseMs) return;
    this.reconnectedAt = now;
    void this.opts.kv.reconnect?.();
  }

  /** Renews with fresh facts (`seen`): after the one in flight, if any, so the record carries them. */
  renewFresh(): Promise<void> {
    return this.inflight ? this.inflight.then(() => this.renew()) : this.renew();
  }

  private async doRenew(n: number): Promise<void> {
    const { kv, zone, clock, leaseMs } = this.opts;
    try {
      const expect = this.revision ?? (await kv.get(leaseKey(zone)))?.revision ?? 0;
      // stamped after the read, right before the put: an attempt given up while its read hung
      // and a newer attempt both reach the put; whichever the compare-and-set lets in carries
      // a time no older than the record it replaced, so the expiry others see never goes back
      const sentAt = clock.now();
      const wall = clock.wallTime();
      const value = JSON.stringify({ zone, renewedAt: wall, expiresAt: wall + leaseMs, seen: this.opts.seen?.() ?? 0 });
      const revision = await kv.put(leaseKey(zone), value, { expect });
      if (n === this.attempts) this.revision = revision;
      this.localExpiry = Math.max(this.localExpiry, sentAt + leaseMs);
      this.lastAck = { revision, at: clock.now() };
    } catch {
      // unreachable or raced: re-read the revision next time; the lease keeps counting down
      if (n === this.attempts) this.revision = undefined;
      this.failures++;
    }
  }
}
