import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/clock.ts';
import { makeAddr, parseClientAddr } from '../geo/index.ts';

/** A connect that failed counts as this many milliseconds (slower than any real answer). */
export const FAILED_RTT_MS = 3000;

/** One measurement a client sent: how long connecting to a zone took. */
export interface SpeedSample {
  zone: string;
  rttMs: number;
  ok: boolean;
}

interface ZoneStat {
  /** Decayed count of samples. */
  w: number;
  /** Decayed sum of RTTs. */
  sum: number;
  /** When w and sum were last decayed (monotonic ms). */
  at: number;
}

/** The subnet key steering uses for a client: its /24 (IPv4) or /56 (IPv6). */
export function subnetKey(ip: string): string {
  const a = parseClientAddr(ip);
  const p = Math.min(a.prefix, a.family === 4 ? 24 : 56);
  return `${makeAddr(a.family, a.address, p).address}/${p}`;
}

/**
 * Aggregates speed reports per client subnet (/24, /56) and per carrier, each zone's RTT a
 * decaying mean (half-life from config), and ranks zones fastest first for steering's
 * `latency` stage. A ranking needs at least two zones with `minReports` (decayed) samples
 * each; the subnet's own reports win, then its carrier's; otherwise null (steer by geo).
 */
export class LatencyAggregator {
  /** Per subnet and per carrier, the 50 000 used last: an evicted subnet ranks by its carrier or geo again; a flood cannot grow it. */
  private readonly buckets = new LRUCache<string, Map<string, ZoneStat>>({ max: 50_000 });
  private readonly halfLifeMs: number;
  private readonly minReports: number;
  private readonly clock: Pick<Clock, 'now'>;
  samples = 0;

  constructor(opts: { clock: Pick<Clock, 'now'>; minReports: number; halfLifeSeconds: number }) {
    this.clock = opts.clock;
    this.minReports = opts.minReports;
    this.halfLifeMs = opts.halfLifeSeconds * 1000;
  }

  private decay(s: ZoneStat, now: number): void {
    if (now <= s.at) return;
    const f = 0.5 ** ((now - s.at) / this.halfLifeMs);
    s.w *= f;
    s.sum *= f;
    s.at = now;
  }

  private addTo(key: string, sample: SpeedSample, now: number): void {
    let b = this.buckets.get(key);
    if (!b) {
      b = new Map();
      this.buckets.set(key, b);
    }
    let s = b.get(sample.zone);
    if (!s) {
      s = { w: 0, sum: 0, at: now };
      b.set(sample.zone, s);
    }
    this.decay(s, now);
    s.w += 1;
    s.sum += sample.ok ? sample.rttMs : FAILED_RTT_MS;
  }

  /** Adds a client's samples under its subnet and its carrier. */
  add(clientIp: string, isp: string | null, samples: readonly SpeedSample[]): void {
    const now = this.clock.now();
    const key = `s:${subnetKey(clientIp)}`;
    for (const s of samples) {
      this.addTo(key, s, now);
      if (isp) this.addTo(`c:${isp}`, s, now);
      this.samples++;
    }
  }

  /** Decayed mean RTT per zone with enough samples, for one key. */
  private means(key: string, zones: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    const b = this.buckets.get(key);
    if (!b) return out;
    const now = this.clock.now();
    for (const z of zones) {
      const s = b.get(z);
      if (!s) continue;
      this.decay(s, now);
      if (s.w >= this.minReports) out.set(z, s.sum / s.w);
    }
    return out;
  }

  /** Zones fastest first for this client, or null when too few reports. Matches SteeringState.latencyRank. */
  rank(clientKey: string, isp: string | null, zones: readonly string[]): readonly string[] | null {
    for (const key of [`s:${clientKey}`, isp ? `c:${isp}` : null]) {
      if (!key) continue;
      const m = this.means(key, zones);
      if (m.size >= 2) return [...m.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([z]) => z);
    }
    return null;
  }

  /** Per-zone decayed count and mean for a subnet or carrier, for the admin view. */
  describe(key: string): Record<string, { reports: number; meanRttMs: number }> {
    const b = this.buckets.get(key);
    const out: Record<string, { reports: number; meanRttMs: number }> = {};
    if (!b) return out;
    const now = this.clock.now();
    for (const [z, s] of b) {
      this.decay(s, now);
      out[z] = { reports: Math.round(s.w * 100) / 100, meanRttMs: Math.round((s.sum / Math.max(s.w, 1e-9)) * 10) / 10 };
    }
    return out;
  }
}
