import { AnswerCache } from './answer-cache.ts';
import { HostBatcher } from './host-batcher.ts';
import { type LookupDeps, lookupHost } from './lookup-host.ts';
import { IpRanker } from './ranking.ts';
import { SpeedReporter } from './reporter.ts';
import { ResolverEmitter } from './resolver-events.ts';
import { type ResolverSettings, resolverSettings } from './resolver-settings.ts';
import { ServerPool } from './server-pool.ts';

export { MAX_BATCH } from './host-batcher.ts';
export type {
  AnswerSource,
  HijackEvent,
  Resolution,
  Resolver,
  ResolverEvents,
  ResolverOptions,
  ResolverStats,
  SystemAddress,
  SystemLookup,
} from './resolver-types.ts';

import type { Resolver, ResolverOptions, ResolverStats } from './resolver-types.ts';

/**
 * The client resolver: HTTPDNS with a TTL cache, batching, background refresh, server
 * rotation with backoff, fallback to the system resolver, IP ranking, hijack detection and
 * speed reports. Browser-safe (WebCrypto, fetch, no node: imports); src/sdk/node.ts adds
 * the Node defaults and connection helpers.
 */
export function createResolver(options: ResolverOptions): Resolver {
  const s = resolverSettings(options);
  const stats = newStats();
  const events = new ResolverEmitter();
  const ranker = new IpRanker(s.clock, options.ranking);
  const ours = new Set(options.knownAddresses ?? []);
  const servers = new ServerPool(s, stats, events, options.servers);
  const cache = new AnswerCache(s, ours, (host) => refresh(host));
  const batcher = new HostBatcher({ s, stats, events, cache, servers, ours });
  const reporter = speedReporter(options, s, servers);

  function refresh(host: string): void {
    if (batcher.isFetching(host) || cache.isClosed()) return;
    stats.refreshes++;
    events.emit('refresh', { host });
    batcher.fetchHost(host, true).catch(() => {}); // a failed refresh keeps the old answer until it expires
  }
  const deps: LookupDeps = { s, stats, cache, batcher, ranker, refresh };
  const lookup = (host: string) => lookupHost(deps, host);

  for (const h of s.preResolve) batcher.fetchHost(h).catch(() => {});

  return {
    lookup,
    async resolve(host) {
      const r = await lookup(host);
      return [...r.ipv4, ...r.ipv6];
    },
    async resolveAll(hosts) {
      const out = new Map<string, string[]>();
      const rs = await Promise.all(hosts.map((h) => lookup(h).then((r) => [...r.ipv4, ...r.ipv6])));
      for (const [i, h] of hosts.entries()) out.set(h, rs[i]!);
      return out;
    },
    report(ip, ok, rttMs, host) {
      ranker.record(ip, ok, rttMs);
      if (reporter && (rttMs !== undefined || !ok)) reporter.add({ host, ip, rttMs: rttMs ?? 0, ok });
    },
    score: (ip) => ranker.score(ip),
    on: (event, fn) => events.on(event, fn),
    stats: () => ({ ...stats }),
    flushReports: () => reporter?.flush() ?? Promise.resolve(),
    async close() {
      cache.close();
      reporter?.close();
      await reporter?.flush();
    },
  };
}

function newStats(): ResolverStats {
  return { requests: 0, cacheHits: 0, staleServed: 0, fallbacks: 0, hijacks: 0, serverErrors: 0, refreshes: 0 };
}

/** The speed reporter, sending to the preferred server; null when reports are off. */
function speedReporter(options: ResolverOptions, s: ResolverSettings, servers: ServerPool): SpeedReporter | null {
  if (options.reports === false) return null;
  return new SpeedReporter({
    clock: s.clock,
    fetch: s.fetch,
    server: () => servers.preferredUrl(),
    account: options.account,
    secret: options.secret,
    intervalMs: options.reports?.intervalMs,
    maxBatch: options.reports?.maxBatch,
  });
}
