import type { AnswerCache, CacheEntry } from './answer-cache.ts';
import type { HostBatcher } from './host-batcher.ts';
import { ipFamily } from './ip-text.ts';
import type { IpRanker } from './ranking.ts';
import type { ResolverSettings } from './resolver-settings.ts';
import type { AnswerSource, Resolution, ResolverStats } from './resolver-types.ts';

/** What a lookup works with. */
export interface LookupDeps {
  s: ResolverSettings;
  stats: ResolverStats;
  cache: AnswerCache;
  batcher: HostBatcher;
  ranker: IpRanker;
  /** Starts a background refresh of host (unless one is running). */
  refresh(host: string): void;
}

function ranked(ranker: IpRanker, host: string, e: CacheEntry, source: AnswerSource): Resolution {
  return { host, ipv4: ranker.rank(e.ipv4), ipv6: ranker.rank(e.ipv6), ttl: e.ttl, source };
}

/**
 * One lookup: an IP literal as itself; else the cached answer while fresh (refreshed in the
 * background past refreshAt), or a stale one with serveStale; else a fetch. Addresses ranked.
 */
export async function lookupHost(d: LookupDeps, hostIn: string): Promise<Resolution> {
  const host = hostIn.toLowerCase().replace(/\.$/, '');
  if (ipFamily(host) === 4) return { host, ipv4: [host], ipv6: [], ttl: 0, source: 'system' };
  if (ipFamily(host) === 6) return { host, ipv4: [], ipv6: [host], ttl: 0, source: 'system' };
  const now = d.s.clock.now();
  const e = d.cache.get(host);
  if (e && now < e.expiresAt) {
    d.stats.cacheHits++;
    e.usedSinceFetch = true;
    if (now >= e.refreshAt) d.refresh(host);
    return ranked(d.ranker, host, e, e.source);
  }
  if (e && d.s.serveStale) {
    d.stats.staleServed++;
    d.refresh(host);
    return ranked(d.ranker, host, e, 'stale');
  }
  const fresh = await d.batcher.fetchHost(host);
  fresh.usedSinceFetch = true;
  return ranked(d.ranker, host, fresh, fresh.source);
}
