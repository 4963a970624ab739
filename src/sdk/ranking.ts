import type { Clock } from '../core/clock.ts';

interface IpStat {
  okRecent: number;
  failRecent: number;
  okHist: number;
  failHist: number;
  /** Smoothed connect RTT in ms (0 = none measured yet). */
  rtt: number;
  at: number;
}

export interface RankerOptions {
  /** Half-life of the recent window (failures demote strongly, then fade). Default 60 s. */
  recentHalfLifeMs?: number;
  /** Half-life of the history (long-run success rate). Default 1 h. */
  historyHalfLifeMs?: number;
}

/** What the ranker knows about one address, for stats and debugging. */
export interface IpScore {
  ip: string;
  score: number;
  recentFailRate: number;
  historySuccessRate: number | null;
  rttMs: number | null;
}

/**
 * Orders a host's addresses the lecture's way: start from the server's order (its geo and
 * latency choice), demote addresses with a high recent failure rate, promote recently and
 * historically successful ones (a long-run failure rate above one half counts against). Every count decays (recent: 60 s half-life, history: 1 h),
 * so a demoted address comes back once its failures fade. Fed by report(ip, ok, rttMs).
 *
 * score = −position − 10·recentFailRate·min(1, recentCount) + 2·min(1, recentOk)
 *         + 3·(2·historySuccessRate − 1)·min(1, historyCount/3) − rttMs/100
 */
export class IpRanker {
  private readonly stats = new Map<string, IpStat>();
  private readonly recentHl: number;
  private readonly histHl: number;

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    opts: RankerOptions = {},
  ) {
    this.recentHl = opts.recentHalfLifeMs ?? 60_000;
    this.histHl = opts.historyHalfLifeMs ?? 3_600_000;
  }

  private stat(ip: string, create: boolean): IpStat | undefined {
    let s = this.stats.get(ip);
    const now = this.clock.now();
    if (!s) {
      if (!create) return undefined;
      s = { okRecent: 0, failRecent: 0, okHist: 0, failHist: 0, rtt: 0, at: now };
      // bounded: forget the oldest address when a client has seen very many
      if (this.stats.size >= 4096) this.stats.delete(this.stats.keys().next().value!);
      this.stats.set(ip, s);
    }
    const dt = now - s.at;
    if (dt > 0) {
      const fr = 0.5 ** (dt / this.recentHl);
      const fh = 0.5 ** (dt / this.histHl);
      s.okRecent *= fr;
      s.failRecent *= fr;
      s.okHist *= fh;
      s.failHist *= fh;
      s.at = now;
    }
    return s;
  }

  /** Records one connection attempt to ip. */
  record(ip: string, ok: boolean, rttMs?: number): void {
    const s = this.stat(ip, true)!;
    if (ok) {
      s.okRecent += 1;
      s.okHist += 1;
      if (rttMs !== undefined && Number.isFinite(rttMs) && rttMs >= 0)
        s.rtt = s.rtt ? s.rtt * 0.7 + rttMs * 0.3 : rttMs;
    } else {
      s.failRecent += 1;
      s.failHist += 1;
    }
  }

  score(ip: string, position = 0): IpScore {
    const s = this.stat(ip, false);
    if (!s) return { ip, score: -position, recentFailRate: 0, historySuccessRate: null, rttMs: null };
    const recentN = s.okRecent + s.failRecent;
    const recentFailRate = recentN > 0 ? s.failRecent / recentN : 0;
    const histN = s.okHist + s.failHist;
    const histRate = histN > 0 ? s.okHist / histN : 0;
    const score =
      -position -
      10 * recentFailRate * Math.min(1, recentN) +
      2 * Math.min(1, s.okRecent) +
      3 * (2 * histRate - 1) * Math.min(1, histN / 3) -
      s.rtt / 100;
    return {
      ip,
      score,
      recentFailRate,
      historySuccessRate: histN > 0 ? histRate : null,
      rttMs: s.rtt ? s.rtt : null,
    };
  }

  /** The addresses best first (stable for equal scores). */
  rank(ips: readonly string[]): string[] {
    return ips
      .map((ip, i) => ({ ip, i, s: this.score(ip, i).score }))
      .sort((a, b) => b.s - a.s || a.i - b.i)
      .map((x) => x.ip);
  }
}
