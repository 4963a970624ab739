/** The resolver's options, answers, events and stats: the types its steps share. */
import type { Clock } from '../core/clock.ts';
import type { IpScore, RankerOptions } from './ranking.ts';

/** One address the system resolver returned. */
export interface SystemAddress {
  address: string;
  family: 4 | 6;
}

/** The system resolver, e.g. Node's dns.promises.lookup(host, { all: true }). */
export type SystemLookup = (host: string) => Promise<SystemAddress[]>;

/** Options of createResolver; only `servers` is required. */
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

/** One host's answer as lookup() returns it. */
export interface Resolution {
  host: string;
  /** Ranked best first. */
  ipv4: string[];
  ipv6: string[];
  ttl: number;
  source: AnswerSource;
}

/** The system resolver answered host with none of our addresses. */
export interface HijackEvent {
  host: string;
  system: string[];
  httpdns: string[];
}

/** Events a resolver emits, by name (see Resolver.on). */
export interface ResolverEvents {
  hijack: HijackEvent;
  fallback: { host: string; reason: string };
  'server-error': { server: string; error: unknown };
  refresh: { host: string };
}

/** Counters since the resolver was made. */
export interface ResolverStats {
  requests: number;
  cacheHits: number;
  staleServed: number;
  fallbacks: number;
  hijacks: number;
  serverErrors: number;
  refreshes: number;
}

/** The resolver createResolver returns. */
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
