import type { AnswerCache, CacheEntry } from './answer-cache.ts';
import { sdkErrors } from './errors.ts';
import type { ResolverEmitter } from './resolver-events.ts';
import type { ResolverSettings } from './resolver-settings.ts';
import type { ResolverStats, SystemAddress } from './resolver-types.ts';

/** What the fallback to the system resolver works with. */
export interface FallbackDeps {
  s: ResolverSettings;
  stats: ResolverStats;
  events: ResolverEmitter;
  cache: AnswerCache;
}

/**
 * Resolves host with the system resolver after HTTPDNS failed (`reason` says how) and caches
 * the answer for fallbackTtl; ERR_SDK_UNRESOLVED when there is none or it finds nothing.
 */
export async function viaSystem(d: FallbackDeps, host: string, reason: string): Promise<CacheEntry> {
  const { systemLookup } = d.s;
  if (!systemLookup) throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: ${reason}, and no system resolver`);
  let addrs: SystemAddress[];
  try {
    addrs = await systemLookup(host);
  } catch (e) {
    throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: ${reason}, and the system resolver failed`, { cause: e });
  }
  d.stats.fallbacks++;
  d.events.emit('fallback', { host, reason });
  const v4 = addrs.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = addrs.filter((a) => a.family === 6).map((a) => a.address);
  if (v4.length + v6.length === 0) throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: no address anywhere`);
  return d.cache.store(host, v4, v6, d.s.fallbackTtl, 'system');
}
