import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { sdkErrors } from './errors.ts';
import { ipFamily } from './ip-text.ts';
import { IpRanker, type IpScore, type RankerOptions } from './ranking.ts';
import { SpeedReporter } from './reporter.ts';
import { hmacSha256Hex } from './sign.ts';

/** Most hosts in one /d call (the server refuses more). */
export const MAX_BATCH = 5;

/** One address the system resolver returned. */
export interface SystemAddress {
  address: string;
  family: 4 | 6;
}

/** The system resolver, e.g. Node's dns.promises.lookup(host, { all: true }). */
export type SystemLookup = (host: string) => Promise<SystemAddress[]>;

export interface ResolverOptions {
  /** HTTPDNS base URLs, tried in turn ('http://127.0.0.1:18053'). At least one. */
  servers: readonly string[];
  /** Account id for signed requests. */
  account?: string;
  /** Account secret: requests go to /sign_d (and reports are signed) when set. */
  secret?: string;
  clock?: Clock;
  fetch?: typeof fetch;
  /** Address families to ask for. Default [4]. */
  families?: readonly (4 | 6)[];
  /** Per-server request timeout. Default 1500 ms. */
  timeoutMs?: number;
  /** Give up on HTTPDNS (and fall back to the system resolver) after this long overall. Default 3000 ms. */
  totalTimeoutMs?: number;
  /** First backoff for a failed server; doubles per failure up to backoffMaxMs. Default 1000 ms. */
  backoffMs?: number;
  /** Default 60 000 ms. */
  backoffMaxMs?: number;
  /** Hosts resolved at once and kept fresh. */
  preResolve?: readonly string[];
  /** Serve an expired answer at once while refreshing it (opt-in). Default false. */
  serveStale?: boolean;
  /** Fraction of the TTL after which an answer is refreshed in the background. Default 0.75. */
  refreshFraction?: number;
  /** The system resolver for fallback and hijack checks (the Node entry supplies dns.promises.lookup). */
  systemLookup?: SystemLookup;
  /** TTL for answers that came from the system resolver. Default 30 s. */
  fallbackTtlSeconds?: number;
  /** Compare HTTPDNS answers with the system resolver's to detect hijacking. Default: on when systemLookup is set. */
  hijackCheck?: boolean;
  /** Addresses that are ours besides those HTTPDNS has answered (for hijack detection). */
  knownAddresses?: readonly string[];
  /** Ask on behalf of this client (the `ip=` parameter), for server-side callers. */
  clientIp?: string;
  /** Lifetime of a request signature. Default 600 s. */
  signTtlSeconds?: number;
  /** Speed reports to /report; false turns them off. */
  reports?: false | { intervalMs?: number; maxBatch?: number };
  ranking?: RankerOptions;
}

/** Where an answer came from. */
export type AnswerSource = 'httpdns' | 'system' | 'stale';

export interface Resolution {
  host: string;
  /** Ranked best first. */
  ipv4: string[];
  ipv6: string[];
  ttl: number;
  source: AnswerSource;
}

export interface HijackEvent {
  host: string;
  system: string[];
  httpdns: string[];
}

export interface ResolverEvents {
  hijack: HijackEvent;
  fallback: { host: string; reason: string };
  'server-error': { server: string; error: unknown };
  refresh: { host: string };
}

export interface ResolverStats {
  requests: number;
  cacheHits: number;
  staleServed: number;
  fallbacks: number;
  hijacks: number;
  serverErrors: number;
  refreshes: number;
}

export interface Resolver {
  /** Ranked addresses for host (IPv4 first, then IPv6). Rejects with ERR_SDK_UNRESOLVED when nothing answers. */
  resolve(host: string): Promise<string[]>;
  /** Both families separately, with the TTL and where the answer came from. */
  lookup(host: string): Promise<Resolution>;
  /** Resolves several hosts (batched ≤ 5 per call). */
  resolveAll(hosts: readonly string[]): Promise<Map<string, string[]>>;
  /** Feeds the ranking (and the speed reports) with one connection attempt. */
  report(ip: string, ok: boolean, rttMs?: number, host?: string): void;
  /** Ranking details of an address. */
  score(ip: string): IpScore;
  on<K extends keyof ResolverEvents>(event: K, fn: (e: ResolverEvents[K]) => void): () => void;
  stats(): ResolverStats;
  /** Sends pending speed reports now. */
  flushReports(): Promise<void>;
  close(): Promise<void>;
}

interface Entry {
  ipv4: string[];
  ipv6: string[];
  ttl: number;
  source: 'httpdns' | 'system';
  expiresAt: number;
  refreshAt: number;
  usedSinceFetch: boolean;
  timer?: Timer;
}

interface Waiter {
  resolve(e: Entry): void;
  reject(e: unknown): void;
  /** A background refresh: it must not replace a cached HTTPDNS answer with the system's. */
  refresh: boolean;
}

interface ServerState {
  url: string;
  failures: number;
  backoffUntil: number;
}

interface DItem {
  host: string;
  ips: string[];
  ipsv6: string[];
  ttl: number;
}

function checkOptions(o: ResolverOptions): void {
  const bad = (m: string) => sdkErrors.ERR_SDK_INVALID_OPTION(`sdk: ${m}`);
  if (!Array.isArray(o.servers) || o.servers.length === 0) throw bad('servers must list at least one HTTPDNS URL');
  for (const s of o.servers)
    if (!/^https?:\/\/[^/]+\/?$/.test(s)) throw bad(`server ${s} must be http(s)://host[:port]`);
  for (const [k, v] of Object.entries({
    timeoutMs: o.timeoutMs,
    totalTimeoutMs: o.totalTimeoutMs,
    backoffMs: o.backoffMs,
    backoffMaxMs: o.backoffMaxMs,
    fallbackTtlSeconds: o.fallbackTtlSeconds,
    signTtlSeconds: o.signTtlSeconds,
  }))
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw bad(`${k} must be a positive number`);
  if (o.refreshFraction !== undefined && !(o.refreshFraction > 0 && o.refreshFraction < 1))
    throw bad('refreshFraction must be between 0 and 1');
  if (o.families && (o.families.length === 0 || o.families.some((f) => f !== 4 && f !== 6)))
    throw bad('families must be [4], [6] or [4, 6]');
  if (o.signTtlSeconds !== undefined && o.signTtlSeconds > 86_400) throw bad('signTtlSeconds must be at most 86400');
  if (o.clientIp !== undefined && ipFamily(o.clientIp) === 0) throw bad('clientIp must be an IP address');
  if (o.account !== undefined && !o.secret) throw bad('account needs a secret');
}

function parseAnswer(body: unknown, hosts: readonly string[]): Map<string, DItem> {
  const bad = (m: string) => sdkErrors.ERR_SDK_BAD_ANSWER(`sdk: bad /d answer: ${m}`);
  const list = (body as { dns?: unknown })?.dns;
  if (!Array.isArray(list)) throw bad('no dns list');
  const out = new Map<string, DItem>();
  for (const d of list as Record<string, unknown>[]) {
    const host = typeof d?.host === 'string' ? d.host.toLowerCase() : null;
    const ips = d?.ips ?? [];
    const ipsv6 = d?.ipsv6 ?? [];
    const ttl = d?.ttl;
    if (!host || !Array.isArray(ips) || !Array.isArray(ipsv6) || typeof ttl !== 'number' || !(ttl >= 0))
      throw bad('an entry lacks host, ips or ttl');
    if (!ips.every((x) => typeof x === 'string' && ipFamily(x) === 4)) throw bad(`ips of ${host} are not IPv4`);
    if (!ipsv6.every((x) => typeof x === 'string' && ipFamily(x) === 6)) throw bad(`ipsv6 of ${host} are not IPv6`);
    out.set(host, { host, ips: ips as string[], ipsv6: ipsv6 as string[], ttl: Math.min(ttl, 86_400) });
  }
  for (const h of hosts) if (!out.has(h)) throw bad(`no entry for ${h}`);
  return out;
}

/**
 * The client resolver: HTTPDNS with a TTL cache, batching, background refresh, server
 * rotation with backoff, fallback to the system resolver, IP ranking, hijack detection and
 * speed reports. Browser-safe (WebCrypto, fetch, no node: imports); src/sdk/node.ts adds
 * the Node defaults and connection helpers.
 */
export function createResolver(options: ResolverOptions): Resolver {
  checkOptions(options);
  const clock = options.clock ?? systemClock;
  const doFetch = options.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const families = options.families ?? [4];
  const query = [...new Set(families)].sort().join(',');
  const timeoutMs = options.timeoutMs ?? 1500;
  const totalTimeoutMs = options.totalTimeoutMs ?? 3000;
  const backoffMs = options.backoffMs ?? 1000;
  const backoffMaxMs = options.backoffMaxMs ?? 60_000;
  const refreshFraction = options.refreshFraction ?? 0.75;
  const fallbackTtl = options.fallbackTtlSeconds ?? 30;
  const signTtl = options.signTtlSeconds ?? 600;
  const hijackCheck = options.hijackCheck ?? options.systemLookup !== undefined;
  const preResolve = new Set((options.preResolve ?? []).map((h) => h.toLowerCase()));
  const servers: ServerState[] = options.servers.map((url) => ({
    url: url.replace(/\/$/, ''),
    failures: 0,
    backoffUntil: Number.NEGATIVE_INFINITY,
  }));
  let preferred = 0;
  const ranker = new IpRanker(clock, options.ranking);
  const cache = new Map<string, Entry>();
  const waiting = new Map<string, Waiter[]>();
  let queue: string[] = [];
  let flushScheduled = false;
  let closed = false;
  const ours = new Set(options.knownAddresses ?? []);
  const listeners = new Map<string, Set<(e: unknown) => void>>();
  const stats: ResolverStats = {
    requests: 0,
    cacheHits: 0,
    staleServed: 0,
    fallbacks: 0,
    hijacks: 0,
    serverErrors: 0,
    refreshes: 0,
  };
  const emit = <K extends keyof ResolverEvents>(k: K, e: ResolverEvents[K]) => {
    for (const fn of listeners.get(k) ?? []) {
      try {
        fn(e);
      } catch {
        // a listener's bug is not the resolver's
      }
    }
  };
  const reporter =
    options.reports === false
      ? null
      : new SpeedReporter({
          clock,
          fetch: doFetch,
          server: () => servers[preferred]!.url,
          account: options.account,
          secret: options.secret,
          intervalMs: options.reports?.intervalMs,
          maxBatch: options.reports?.maxBatch,
        });

  /** GET one server with a timeout; throws on HTTP errors and bad answers. */
  async function ask(server: ServerState, hosts: readonly string[], budgetMs: number): Promise<Map<string, DItem>> {
    const hostParam = hosts.join(',');
    let path = `/d?host=${encodeURIComponent(hostParam)}&query=${query}`;
    if (options.secret) {
      const t = Math.floor(clock.wallTime() / 1000) + signTtl;
      const s = await hmacSha256Hex(options.secret, `${hostParam}-${t}`);
      path = `/sign_d?host=${encodeURIComponent(hostParam)}&query=${query}&t=${t}&s=${s}`;
      if (options.account) path += `&account=${encodeURIComponent(options.account)}`;
    }
    if (options.clientIp) path += `&ip=${encodeURIComponent(options.clientIp)}`;
    const ctl = new AbortController();
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimer(Math.min(timeoutMs, budgetMs), () => {
        ctl.abort();
        reject(sdkErrors.ERR_SDK_HTTP(`sdk: ${server.url} timed out`));
      });
    });
    try {
      stats.requests++;
      const work = (async () => {
        const r = await doFetch(`${server.url}${path}`, {
          signal: ctl.signal,
          headers: { accept: 'application/json' },
        });
        const text = await r.text();
        if (r.status !== 200)
          throw sdkErrors.ERR_SDK_HTTP(`sdk: ${server.url} answered HTTP ${r.status}`, {
            details: { status: r.status },
          });
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch (e) {
          throw sdkErrors.ERR_SDK_BAD_ANSWER('sdk: bad /d answer: not JSON', { cause: e });
        }
        return parseAnswer(body, hosts);
      })();
      work.catch(() => {}); // the timeout may win; don't leave this rejection unhandled
      return await Promise.race([work, timeout]);
    } finally {
      timer?.cancel();
    }
  }

  /** Servers in turn from the preferred one, skipping those in backoff (unless all are). */
  async function askServers(hosts: readonly string[]): Promise<Map<string, DItem>> {
    const start = clock.now();
    const now = clock.now();
    const order = servers.map((_, i) => servers[(preferred + i) % servers.length]!);
    let candidates = order.filter((s) => s.backoffUntil <= now);
    if (candidates.length === 0) candidates = [...order].sort((a, b) => a.backoffUntil - b.backoffUntil).slice(0, 1);
    let last: unknown = sdkErrors.ERR_SDK_HTTP('sdk: no HTTPDNS server tried');
    for (const s of candidates) {
      const budget = totalTimeoutMs - (clock.now() - start);
      if (budget <= 0) break;
      try {
        const out = await ask(s, hosts, budget);
        s.failures = 0;
        s.backoffUntil = Number.NEGATIVE_INFINITY;
        preferred = servers.indexOf(s);
        return out;
      } catch (e) {
        last = e;
        s.failures++;
        s.backoffUntil = clock.now() + Math.min(backoffMaxMs, backoffMs * 2 ** (s.failures - 1));
        stats.serverErrors++;
        emit('server-error', { server: s.url, error: e });
      }
    }
    throw last;
  }

  function store(host: string, ipv4: string[], ipv6: string[], ttl: number, source: 'httpdns' | 'system'): Entry {
    const old = cache.get(host);
    old?.timer?.cancel();
    const now = clock.now();
    const e: Entry = {
      ipv4,
      ipv6,
      ttl,
      source,
      expiresAt: now + ttl * 1000,
      refreshAt: now + ttl * 1000 * refreshFraction,
      usedSinceFetch: false,
    };
    if (source === 'httpdns') for (const ip of [...ipv4, ...ipv6]) ours.add(ip);
    // refresh at 75 % of the TTL, for hosts someone still uses (or pre-resolves)
    if (ttl > 0 && !closed)
      e.timer = clock.setTimer(ttl * 1000 * refreshFraction, () => {
        if (cache.get(host) !== e || closed) return;
        if (e.usedSinceFetch || preResolve.has(host)) refresh(host);
      });
    cache.set(host, e);
    return e;
  }

  async function viaSystem(host: string, reason: string): Promise<Entry> {
    if (!options.systemLookup) throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: ${reason}, and no system resolver`);
    let addrs: SystemAddress[];
    try {
      addrs = await options.systemLookup(host);
    } catch (e) {
      throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: ${reason}, and the system resolver failed`, { cause: e });
    }
    stats.fallbacks++;
    emit('fallback', { host, reason });
    const v4 = addrs.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = addrs.filter((a) => a.family === 6).map((a) => a.address);
    if (v4.length + v6.length === 0) throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: no address anywhere`);
    return store(host, v4, v6, fallbackTtl, 'system');
  }

  function checkHijack(host: string, httpdnsIps: string[]): void {
    if (!hijackCheck || !options.systemLookup || httpdnsIps.length === 0) return;
    options.systemLookup(host).then(
      (addrs) => {
        const system = addrs.map((a) => a.address);
        if (system.length === 0 || system.some((ip) => httpdnsIps.includes(ip) || ours.has(ip))) return;
        stats.hijacks++;
        emit('hijack', { host, system, httpdns: httpdnsIps });
      },
      () => {},
    );
  }

  function settle(host: string, fn: (w: Waiter) => void): void {
    const ws = waiting.get(host) ?? [];
    waiting.delete(host);
    for (const w of ws) fn(w);
  }

  async function runBatch(hosts: string[]): Promise<void> {
    let answers: Map<string, DItem> | null = null;
    let reason = 'HTTPDNS unreachable';
    try {
      answers = await askServers(hosts);
    } catch (e) {
      reason = (e as { code?: string })?.code === 'ERR_SDK_BAD_ANSWER' ? 'bad HTTPDNS answers' : reason;
    }
    await Promise.all(
      hosts.map(async (host) => {
        try {
          const a = answers?.get(host);
          let e: Entry;
          if (a && a.ips.length + a.ipsv6.length > 0) {
            e = store(host, a.ips, a.ipsv6, a.ttl, 'httpdns');
            checkHijack(host, [...a.ips, ...a.ipsv6]);
          } else if (!a && (waiting.get(host) ?? []).every((w) => w.refresh) && cache.get(host)?.source === 'httpdns') {
            // a failed refresh keeps the HTTPDNS answer we have (until it expires) rather
            // than switching to the system resolver's, which may be the hijacked one
            throw sdkErrors.ERR_SDK_UNRESOLVED(`sdk: ${host}: refresh failed (${reason})`);
          } else e = await viaSystem(host, a ? 'HTTPDNS has no address for it' : reason);
          settle(host, (w) => w.resolve(e));
        } catch (err) {
          settle(host, (w) => w.reject(err));
        }
      }),
    );
  }

  function flush(): void {
    flushScheduled = false;
    const hosts = queue;
    queue = [];
    for (let i = 0; i < hosts.length; i += MAX_BATCH) void runBatch(hosts.slice(i, i + MAX_BATCH));
  }

  /** Queues host for the next /d batch (hosts asked in the same tick share calls). */
  function fetchHost(host: string, refresh = false): Promise<Entry> {
    return new Promise<Entry>((resolve, reject) => {
      const ws = waiting.get(host);
      if (ws) {
        ws.push({ resolve, reject, refresh });
        return;
      }
      waiting.set(host, [{ resolve, reject, refresh }]);
      queue.push(host);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flush);
      }
    });
  }

  function refresh(host: string): void {
    if (waiting.has(host) || closed) return;
    stats.refreshes++;
    emit('refresh', { host });
    fetchHost(host, true).catch(() => {}); // a failed refresh keeps the old answer until it expires
  }

  function ranked(host: string, e: Entry, source: AnswerSource): Resolution {
    return { host, ipv4: ranker.rank(e.ipv4), ipv6: ranker.rank(e.ipv6), ttl: e.ttl, source };
  }

  async function lookup(hostIn: string): Promise<Resolution> {
    const host = hostIn.toLowerCase().replace(/\.$/, '');
    if (ipFamily(host) === 4) return { host, ipv4: [host], ipv6: [], ttl: 0, source: 'system' };
    if (ipFamily(host) === 6) return { host, ipv4: [], ipv6: [host], ttl: 0, source: 'system' };
    const now = clock.now();
    const e = cache.get(host);
    if (e && now < e.expiresAt) {
      stats.cacheHits++;
      e.usedSinceFetch = true;
      if (now >= e.refreshAt) refresh(host);
      return ranked(host, e, e.source);
    }
    if (e && options.serveStale) {
      stats.staleServed++;
      refresh(host);
      return ranked(host, e, 'stale');
    }
    const fresh = await fetchHost(host);
    fresh.usedSinceFetch = true;
    return ranked(host, fresh, fresh.source);
  }

  for (const h of preResolve) fetchHost(h).catch(() => {});

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
    on(event, fn) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
      }
      set.add(fn as (e: unknown) => void);
      return () => set.delete(fn as (e: unknown) => void);
    },
    stats: () => ({ ...stats }),
    flushReports: () => reporter?.flush() ?? Promise.resolve(),
    async close() {
      closed = true;
      for (const e of cache.values()) e.timer?.cancel();
      reporter?.close();
      await reporter?.flush();
    },
  };
}
