import type { Clock, Timer } from '../core/clock.ts';
import { settledWithin } from '../core/deadline.ts';
import { hasCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { shardmapErrors } from './errors.ts';
import type { Kv, KvEntry } from './kv/kv.ts';

/** The Kv key the control plane's leader holds. */
export const LEADER_KEY = 'control.leader';

/** The leader lease as stored in the Kv. */
export interface LeaderRecord {
  /** Who holds it: one process (its zones, host and pid, and a random suffix). */
  holder: string;
  /** The zones that process runs. */
  zones: string[];
  /** Grows by one every time the lease changes hands: the fencing token of every move. */
  term: number;
  /** Wall ms the lease ends unless renewed. */
  expiresAt: number;
  renewedAt: number;
  /** The leader's control API base URL, where other processes forward failover and failback. */
  control?: string;
}

/** What the failover controller and the control API ask of the election. */
export interface Leadership {
  /** True only while this process holds the lease by its own monotonic clock. */
  isLeader(): boolean;
  /** The term this process leads in (0 when it never led). */
  term(): number;
  /** The last leader record seen in the Kv, ours or another's. */
  current(): LeaderRecord | undefined;
}

export interface LeaderElectionOptions {
  kv: Kv;
  /** This process's identity; unique per process run. */
  id: string;
  zones: readonly string[];
  clock: Clock;
  leaseMs: number;
  renewMs: number;
  /** How far clocks may disagree: a lapsed lease is taken over only this long after its end. */
  skewMs: number;
  logger?: Logger;
  /** The control API URL to advertise (read at every renewal: it is known only once listening). */
  control?(): string | undefined;
  /** Told when this process gains or loses the lead. */
  onChange?(leading: boolean, term: number): void;
}

/**
 * Leader election over the control Kv: one lease key, taken and renewed by compare-and-set
 * on its revision. A candidate takes the lease only once the holder's `expiresAt + skewMs`
 * has passed by its wall clock; the holder counts its lead from the moment each renewal was
 * *sent*, on its monotonic clock, so it stops leading no later than anybody may take over.
 * Every takeover raises the term, which goes into each shard map write as a fencing token.
 */
export class LeaderElection implements Leadership {
  private localExpiry = Number.NEGATIVE_INFINITY;
  private held = 0;
  private seen: LeaderRecord | undefined;
  private timer: Timer | undefined;
  /** A campaign at the moment the holder's lease may be taken over (see follow). */
  private takeover: Timer | undefined;
  private inflight: Promise<void> | undefined;
  /** Rounds started (see campaign). */
  private rounds = 0;
  private leading = false;
  private stopped = false;

  constructor(private readonly o: LeaderElectionOptions) {}

  isLeader(): boolean {
    return this.held > 0 && this.o.clock.now() < this.localExpiry;
  }

  term(): number {
    return this.held;
  }

  current(): LeaderRecord | undefined {
    return this.seen;
  }

  /** Campaigns at once, then every renewMs. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.campaign();
    this.timer = this.o.clock.setInterval(this.o.renewMs, () => void this.campaign());
  }

  /**
   * Stops campaigning; a holder resigns (its record ends now, the term stays in the Kv for the
   * next leader to count on from) so another process takes over at once. `resign: false` is
   * a crash: the lease is left to lapse.
   */
  async stop(opts: { resign?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.takeover?.cancel();
    await this.inflight;
    if (opts.resign !== false && this.isLeader()) {
      const e = await this.o.kv.get(LEADER_KEY).catch(() => null);
      const cur = e ? parse(e) : undefined;
      if (e && cur?.holder === this.o.id)
        await this.o.kv
          .put(LEADER_KEY, JSON.stringify({ ...cur, expiresAt: 0 }), { expect: e.revision })
          .catch(() => {});
    }
    this.localExpiry = Number.NEGATIVE_INFINITY;
    this.settle(false);
  }

  /**
   * One round: renew our lease, take a lapsed one, or follow. Never two rounds at once, but a
   * round the Kv has not answered within renewMs is given up (a leaderless NATS stream
   * swallows requests for seconds, and a read is retried), so the next tick campaigns again
   * as soon as the Kv answers; only the newest round may step down on a lost race.
   */
  campaign(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inflight) return this.inflight;
    const n = ++this.rounds;
    const current = settledWithin(this.o.clock, this.round(n), this.o.renewMs)
      .then(() => {})
      .finally(() => {
        if (this.inflight === current) this.inflight = undefined;
      });
    this.inflight = current;
    return current;
  }

  private async round(n: number): Promise<void> {
    const sentAt = this.o.clock.now();
    try {
      const e = await this.o.kv.get(LEADER_KEY);
      const cur = e ? parse(e) : undefined;
      if (cur) this.seen = cur;
      const now = this.o.clock.wallTime();
      const ours = cur?.holder === this.o.id && cur.term === this.held;
      // a given-up round's read may be older than a newer round's win: only the newest follows
      if (cur && !ours && now <= cur.expiresAt + this.o.skewMs)
        return n === this.rounds ? this.follow(cur.expiresAt + this.o.skewMs - now) : undefined;
      const term = ours ? cur.term : (cur?.term ?? 0) + 1;
      const rec: LeaderRecord = {
        holder: this.o.id,
        zones: [...this.o.zones],
        term,
        expiresAt: now + this.o.leaseMs,
        renewedAt: now,
        ...(this.o.control?.() ? { control: this.o.control() } : {}),
      };
      await this.o.kv.put(LEADER_KEY, JSON.stringify(rec), { expect: e?.revision ?? 0 });
      if (this.stopped) return;
      this.seen = rec;
      // a late answer to a given-up round never shortens what a newer round of the term won
      const kept = this.held === term ? this.localExpiry : Number.NEGATIVE_INFINITY;
      this.held = term;
      this.localExpiry = Math.max(kept, sentAt + this.o.leaseMs);
      this.settle(true);
    } catch (err) {
      // another candidate won the race: it leads now. The Kv is out of reach: we lead at most
      // until our lease lapses, and then nobody here does
      if (hasCode(err, shardmapErrors.ERR_FAILOVER_KV_CONFLICT)) return n === this.rounds ? this.follow() : undefined;
      this.o.logger?.debug({ err }, 'leader election: cannot reach the control Kv');
      this.settle(this.isLeader());
    }
  }

  /**
   * Follows the holder. When its lease may be taken over before the next round (`freeInMs`),
   * a round is set for that moment: a dead leader is replaced as soon as the rules allow, not
   * up to renewMs later (it is on the RTO path when the leader's own zone fails).
   */
  private follow(freeInMs?: number): void {
    this.localExpiry = Number.NEGATIVE_INFINITY;
    this.settle(false);
    this.takeover?.cancel();
    this.takeover = undefined;
    if (freeInMs !== undefined && freeInMs < this.o.renewMs && !this.stopped)
      this.takeover = this.o.clock.setTimer(Math.max(0, freeInMs) + 1, () => void this.campaign());
  }

  private settle(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.logger?.info(
      { term: this.held, id: this.o.id },
      leading ? 'control plane: leading' : 'control plane: following',
    );
    this.o.onChange?.(leading, this.held);
  }
}

function parse(e: KvEntry): LeaderRecord | undefined {
  if (e.value === null) return undefined;
  try {
    const v = JSON.parse(e.value) as Partial<LeaderRecord>;
    if (typeof v.holder !== 'string' || typeof v.term !== 'number' || typeof v.expiresAt !== 'number') return undefined;
    return {
      holder: v.holder,
      zones: Array.isArray(v.zones) ? v.zones.map(String) : [],
      term: v.term,
      expiresAt: v.expiresAt,
      renewedAt: typeof v.renewedAt === 'number' ? v.renewedAt : 0,
      ...(typeof v.control === 'string' ? { control: v.control } : {}),
    };
  } catch {
    return undefined;
  }
}
