import { type Clock, systemClock } from '../core/clock.ts';
import { sdkErrors } from './errors.ts';
import { ipFamily } from './ip-text.ts';
import type { ResolverOptions, SystemLookup } from './resolver-types.ts';

/** A resolver's options checked and with every default filled in, read by each stage. */
export interface ResolverSettings {
  clock: Clock;
  fetch: typeof fetch;
  /** The `query=` parameter: the families asked for, e.g. '4,6'. */
  query: string;
  timeoutMs: number;
  totalTimeoutMs: number;
  backoffMs: number;
  backoffMaxMs: number;
  refreshFraction: number;
  fallbackTtl: number;
  signTtl: number;
  hijackCheck: boolean;
  serveStale: boolean;
  /** Lower-cased. */
  preResolve: Set<string>;
  account: string | undefined;
  secret: string | undefined;
  clientIp: string | undefined;
  systemLookup: SystemLookup | undefined;
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

/** Checks the options (ERR_SDK_INVALID_OPTION) and fills in the defaults. */
export function resolverSettings(options: ResolverOptions): ResolverSettings {
  checkOptions(options);
  const families = options.families ?? [4];
  return {
    clock: options.clock ?? systemClock,
    // looked up at call time, so a fetch installed after the resolver was made is used
    fetch: options.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a)),
    query: [...new Set(families)].sort().join(','),
    timeoutMs: options.timeoutMs ?? 1500,
    totalTimeoutMs: options.totalTimeoutMs ?? 3000,
    backoffMs: options.backoffMs ?? 1000,
    backoffMaxMs: options.backoffMaxMs ?? 60_000,
    refreshFraction: options.refreshFraction ?? 0.75,
    fallbackTtl: options.fallbackTtlSeconds ?? 30,
    signTtl: options.signTtlSeconds ?? 600,
    hijackCheck: options.hijackCheck ?? options.systemLookup !== undefined,
    serveStale: options.serveStale ?? false,
    preResolve: new Set((options.preResolve ?? []).map((h) => h.toLowerCase())),
    account: options.account,
    secret: options.secret,
    clientIp: options.clientIp,
    systemLookup: options.systemLookup,
  };
}
