import type { Timer } from '../core/clock.ts';
import type { ResolverSettings } from './resolver-settings.ts';

/** A cached answer for one host. */
export interface CacheEntry {
  ipv4: string[];
  ipv6: string[];
  ttl: number;
  source: 'httpdns' | 'system';
  /** Monotonic ms. */
  expiresAt: number;
  /** Monotonic ms: from then on a lookup also refreshes the answer. */
  refreshAt: number;
  /** Looked up since it was fetched: only hosts someone uses are refreshed in the background. */
  usedSinceFetch: boolean;
  timer?: Timer;
}

/**
 * Hosts kept: an app talks to a handful of hosts, so 1024 holds them all, while an app that
 * resolves names it is given (user URLs, a crawler) cannot grow the cache without bound. Past
 * it the host stored longest ago goes (its refresh timer with it); a lookup of it fetches anew.
 */
export const MAX_HOSTS = 1024;

/**
 * The TTL cache of answers. Each entry schedules its own background refresh (at
 * refreshFraction of the TTL); `refreshDue` is called then for hosts still in use or pre-resolved.
 * At most MAX_HOSTS hosts.
 */
export class AnswerCache {
  private readonly entries = new Map<string, CacheEntry>();
  private closed = false;

  constructor(
    private readonly s: ResolverSettings,
    /** Addresses known to be ours: every HTTPDNS answer is added (hijack detection reads it). */
    private readonly ours: Set<string>,
    private readonly refreshDue: (host: string) => void,
  ) {}

  /** True once close() was called: nothing is refreshed any more. */
  isClosed(): boolean {
    return this.closed;
  }

  /** The entry for host, expired or not. */
  get(host: string): CacheEntry | undefined {
    return this.entries.get(host);
  }

  /** Caches an answer (replacing the host's entry and its refresh timer) and returns its entry. */
  store(host: string, ipv4: string[], ipv6: string[], ttl: number, source: 'httpdns' | 'system'): CacheEntry {
    const old = this.entries.get(host);
    old?.timer?.cancel();
    // stored again: to the back of the line (Map order is the eviction order)
    this.entries.delete(host);
    if (this.entries.size >= MAX_HOSTS) {
      const [oldest, e] = this.entries.entries().next().value!;
      e.timer?.cancel();
      this.entries.delete(oldest);
    }
    const now = this.s.clock.now();
    const e: CacheEntry = {
      ipv4,
      ipv6,
      ttl,
      source,
      expiresAt: now + ttl * 1000,
      refreshAt: now + ttl * 1000 * this.s.refreshFraction,
      usedSinceFetch: false,
    };
    if (source === 'httpdns') for (const ip of [...ipv4, ...ipv6]) this.ours.add(ip);
    // refresh at 75 % of the TTL, for hosts someone still uses (or pre-resolves)
    if (ttl > 0 && !this.closed)
      e.timer = this.s.clock.setTimer(ttl * 1000 * this.s.refreshFraction, () => {
        if (this.entries.get(host) !== e || this.closed) return;
        if (e.usedSinceFetch || this.s.preResolve.has(host)) this.refreshDue(host);
      });
    this.entries.set(host, e);
    return e;
  }

  /** Stops every refresh timer; later refreshes are refused. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.timer?.cancel();
  }
}
