/**
 * RFC 9111 for a shared cache, as small pure functions: may this response be stored (§3),
 * how long is it fresh (§4.2.1, §4.2.2 heuristics), how old is it (§4.2.3), may a stored
 * response be reused for this request (§4.2, §4.3, RFC 5861), and merging a 304 (§3.2).
 * Times are wall-clock milliseconds passed in by the caller; lifetimes and ages are seconds.
 */
import {
  type Directives,
  deltaSeconds,
  fieldNames,
  parseCacheControl,
  parseTargetedCacheControl,
} from './cache-control.ts';
import { parseHttpDate } from './http-date.ts';

/** Header map with lowercase names, as node:http and undici give them. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** Status codes that are heuristically cacheable by default (RFC 9110 §15.1, RFC 9111 §4.2.2). */
export const DEFAULT_CACHEABLE: ReadonlySet<number> = new Set([
  200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/** Server-error codes negative caching applies to. */
const NEGATIVE_5XX: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/** Tunables of freshness that config sets once. */
export interface FreshnessOptions {
  /** Fraction of (Date − Last-Modified) used as heuristic freshness (RFC 9111 §4.2.2 suggests 10 %). */
  heuristicFraction: number;
  /** Upper bound of a heuristic lifetime, seconds. */
  heuristicMaxSeconds: number;
  /** Lifetime of a 404 that carries no freshness information, seconds (0: not cached). */
  negative404Seconds: number;
  /** Lifetime of a 500/502/503/504 that carries no freshness information, seconds (0: not cached). */
  negative5xxSeconds: number;
}

export const DEFAULT_FRESHNESS: FreshnessOptions = {
  heuristicFraction: 0.1,
  heuristicMaxSeconds: 86400,
  negative404Seconds: 10,
  negative5xxSeconds: 0,
};

/** First value of a header. */
export function header(h: HeaderMap, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** All values of a header joined by ", " (list-valued fields). */
export function headerList(h: HeaderMap, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * The directives that govern this cache: CDN-Cache-Control when the origin sent a valid one
 * (RFC 9213 lets a CDN ignore Cache-Control then), else Cache-Control. An invalid
 * CDN-Cache-Control is ignored as a whole (RFC 9213 §2.1, RFC 8941 §4.2).
 */
export function responseDirectives(h: HeaderMap): { cc: Directives; targeted: boolean } {
  const cdn = h['cdn-cache-control'];
  if (cdn !== undefined) {
    const d = parseTargetedCacheControl(cdn);
    if (d !== undefined && d.size > 0) return { cc: d, targeted: true };
  }
  return { cc: parseCacheControl(h['cache-control']), targeted: false };
}

/** Request directives; `Pragma: no-cache` counts only without Cache-Control (RFC 9111 §5.4). */
export function requestDirectives(h: HeaderMap): Directives {
  if (h['cache-control'] !== undefined) return parseCacheControl(h['cache-control']);
  const pragma = headerList(h, 'pragma');
  if (pragma && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)) return new Map([['no-cache', true]]);
  return new Map();
}

export type StoreVerdict = { store: true } | { store: false; reason: string };

/** RFC 9111 §3 for a shared cache. `status` is the final status of a GET. */
export function storability(
  req: { method: string; headers: HeaderMap },
  status: number,
  res: HeaderMap,
  opts: FreshnessOptions = DEFAULT_FRESHNESS,
): StoreVerdict {
  if (req.method !== 'GET') return { store: false, reason: 'method' };
  // 206 and 304 are never stored as objects: we fetch whole representations ourselves
  if (status < 200 || status === 206 || status === 304) return { store: false, reason: 'status' };
  const reqCc = requestDirectives(req.headers);
  if (reqCc.has('no-store')) return { store: false, reason: 'request-no-store' };
  const { cc } = responseDirectives(res);
  if (cc.has('no-store')) return { store: false, reason: 'no-store' };
  if (cc.get('private') === true) return { store: false, reason: 'private' };
  const vary = headerList(res, 'vary');
  if (vary?.split(',').some((s) => s.trim() === '*')) return { store: false, reason: 'vary-star' };
  if (req.headers.authorization !== undefined && !cc.has('must-revalidate') && !cc.has('public') && !cc.has('s-maxage'))
    return { store: false, reason: 'authorization' };
  // a shared cache handing one user's cookie to another is the classic leak: never store it
  if (res['set-cookie'] !== undefined) return { store: false, reason: 'set-cookie' };
  const explicit = res.expires !== undefined || cc.has('max-age') || cc.has('s-maxage') || cc.has('public');
  if (explicit || DEFAULT_CACHEABLE.has(status)) return { store: true };
  if (NEGATIVE_5XX.has(status) && opts.negative5xxSeconds > 0) return { store: true };
  return { store: false, reason: 'status' };
}

/** What a stored response's freshness lifetime came from. */
export type LifetimeSource = 's-maxage' | 'max-age' | 'expires' | 'heuristic' | 'negative' | 'none';

/** RFC 9111 §4.2.1 and §4.2.2: freshness lifetime in seconds. `responseTime` is wall ms. */
export function freshnessLifetime(
  status: number,
  res: HeaderMap,
  responseTime: number,
  opts: FreshnessOptions = DEFAULT_FRESHNESS,
): { seconds: number; source: LifetimeSource } {
  const { cc } = responseDirectives(res);
  const sMax = deltaSeconds(cc, 's-maxage');
  if (sMax !== undefined) return { seconds: sMax, source: 's-maxage' };
  const max = deltaSeconds(cc, 'max-age');
  if (max !== undefined) return { seconds: max, source: 'max-age' };
  const date = dateValue(res, responseTime);
  if (res.expires !== undefined) {
    const exp = parseHttpDate(header(res, 'expires'));
    // an invalid Expires (e.g. "0") means already expired (RFC 9111 §5.3)
    if (Number.isNaN(exp)) return { seconds: 0, source: 'expires' };
    return { seconds: Math.max(0, Math.floor((exp - date) / 1000)), source: 'expires' };
  }
  const lm = parseHttpDate(header(res, 'last-modified'));
  if (!Number.isNaN(lm) && (DEFAULT_CACHEABLE.has(status) || cc.has('public')) && lm <= date) {
    const h = Math.min(Math.floor(((date - lm) / 1000) * opts.heuristicFraction), opts.heuristicMaxSeconds);
    return { seconds: h, source: 'heuristic' };
  }
  if (status === 404 && opts.negative404Seconds > 0) return { seconds: opts.negative404Seconds, source: 'negative' };
  if (NEGATIVE_5XX.has(status) && opts.negative5xxSeconds > 0)
    return { seconds: opts.negative5xxSeconds, source: 'negative' };
  return { seconds: 0, source: 'none' };
}

/** The Date header's value, or the response time when absent or invalid (RFC 9110 §6.6.1). */
export function dateValue(res: HeaderMap, responseTime: number): number {
  const d = parseHttpDate(header(res, 'date'));
  return Number.isNaN(d) ? responseTime : d;
}

/**
 * The Age field's value in seconds: undefined when absent, 'invalid' when any member is not
 * a non-negative integer. Age is a singleton, but a list (`Age: 7200, 0`, or two field lines)
 * counts as its largest member: never younger than RFC 9111 §5.1's first-member reading, so a
 * malformed Age can only make a response older, never fresher.
 */
export function ageField(res: HeaderMap): number | 'invalid' | undefined {
  const raw = headerList(res, 'age');
  if (raw === undefined) return undefined;
  let max = 0;
  for (const m of raw.split(',')) {
    const t = m.trim();
    if (!/^\d+$/.test(t)) return 'invalid';
    max = Math.max(max, Math.min(Number(t), 2147483648));
  }
  return max;
}

/**
 * RFC 9111 §4.2.3 corrected_initial_age in seconds, from the Age and Date headers and the
 * times the request was sent and the response received (wall ms).
 */
export function correctedInitialAge(res: HeaderMap, requestTime: number, responseTime: number): number {
  const a = ageField(res);
  const ageValue = typeof a === 'number' ? a : 0;
  const apparentAge = Math.max(0, (responseTime - dateValue(res, responseTime)) / 1000);
  const responseDelay = Math.max(0, (responseTime - requestTime) / 1000);
  const correctedAgeValue = ageValue + responseDelay;
  return Math.max(apparentAge, correctedAgeValue);
}

/** The freshness facts of a stored response that reuse decisions need. */
export interface FreshnessState {
  /** corrected_initial_age, seconds. */
  initialAge: number;
  /** Wall ms when the response (or its latest 304) arrived. */
  responseTime: number;
  /** Freshness lifetime, seconds. */
  lifetime: number;
  /** stale-while-revalidate window, seconds (0: none). */
  swr: number;
  /** stale-if-error window, seconds (0: none). */
  sie: number;
  /** Response `no-cache` (unqualified): revalidate before every reuse. */
  noCache: boolean;
  /** must-revalidate, proxy-revalidate or s-maxage: never serve stale. */
  mustRevalidate: boolean;
  /** Soft-purged: treated as stale whatever its lifetime. */
  invalidated: boolean;
}

/** Derives the reuse facts from stored headers. */
export function freshnessState(
  status: number,
  res: HeaderMap,
  requestTime: number,
  responseTime: number,
  opts: FreshnessOptions = DEFAULT_FRESHNESS,
): FreshnessState & { source: LifetimeSource } {
  const { cc } = responseDirectives(res);
  const lt = freshnessLifetime(status, res, responseTime, opts);
  // an Age we cannot read (RFC 9111 §5.1 says ignore such a response): stale at once, so it is
  // revalidated before use (or not stored without a validator) rather than trusted as young
  const ageInvalid = ageField(res) === 'invalid';
  return {
    initialAge: correctedInitialAge(res, requestTime, responseTime),
    responseTime,
    lifetime: ageInvalid ? 0 : lt.seconds,
    source: lt.source,
    swr: deltaSeconds(cc, 'stale-while-revalidate') ?? 0,
    sie: deltaSeconds(cc, 'stale-if-error') ?? 0,
    noCache: cc.get('no-cache') === true,
    mustRevalidate: cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('s-maxage'),
    invalidated: false,
  };
}

/** current_age in seconds at wall time now (RFC 9111 §4.2.3). */
export function currentAge(s: FreshnessState, now: number): number {
  return s.initialAge + Math.max(0, (now - s.responseTime) / 1000);
}

/** Age header value: whole seconds, never negative. */
export function ageHeader(s: FreshnessState, now: number): number {
  return Math.floor(currentAge(s, now));
}

/** How a stored response may be used for a request. */
export type ReuseVerdict =
  /** Fresh for this request: serve it. */
  | 'fresh'
  /** Stale but inside stale-while-revalidate: serve it and revalidate in the background. */
  | 'stale-while-revalidate'
  /** Stale, but the client allows it with max-stale. */
  | 'stale-allowed'
  /** Must be validated with the origin before use. */
  | 'revalidate';

/** RFC 9111 §4.2 / §5.2.1 / RFC 5861: may the stored response be reused for this request? */
export function reuseVerdict(s: FreshnessState, reqCc: Directives, now: number): ReuseVerdict {
  if (s.noCache || s.invalidated || reqCc.has('no-cache')) return 'revalidate';
  const age = currentAge(s, now);
  const reqMaxAge = deltaSeconds(reqCc, 'max-age');
  const minFresh = deltaSeconds(reqCc, 'min-fresh') ?? 0;
  const fresh = age + minFresh < s.lifetime && (reqMaxAge === undefined || age <= reqMaxAge);
  if (fresh) return 'fresh';
  if (s.mustRevalidate) return 'revalidate';
  const staleness = age - s.lifetime;
  const maxStale = reqCc.get('max-stale');
  if (maxStale !== undefined && reqMaxAge === undefined) {
    const limit = maxStale === true ? Number.POSITIVE_INFINITY : (deltaSeconds(reqCc, 'max-stale') ?? 0);
    if (staleness <= limit) return 'stale-allowed';
  }
  if (s.swr > 0 && staleness <= s.swr && reqMaxAge === undefined) return 'stale-while-revalidate';
  return 'revalidate';
}

/** RFC 5861 §4: may a stale response be served because the origin failed? */
export function staleIfErrorAllowed(s: FreshnessState, reqCc: Directives, now: number): boolean {
  if (s.mustRevalidate) return false;
  const staleness = currentAge(s, now) - s.lifetime;
  const reqSie = deltaSeconds(reqCc, 'stale-if-error');
  const window = reqSie ?? s.sie;
  return staleness <= window && window > 0;
}

/** The fixed hop-by-hop fields (RFC 9110 §7.6.1); never modify. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Hop-by-hop fields plus those named in Connection. */
export function hopByHop(h: HeaderMap): Set<string> {
  const s = new Set(HOP_BY_HOP);
  const c = headerList(h, 'connection');
  if (c) for (const n of c.split(',')) s.add(n.trim().toLowerCase());
  return s;
}

/**
 * The headers to keep when storing a response (RFC 9111 §3.1): no hop-by-hop fields, no
 * fields named by qualified no-cache / private, no Age (recomputed on delivery).
 */
export function storedHeaders(res: HeaderMap): Record<string, string | string[]> {
  const drop = hopByHop(res);
  drop.add('age');
  const { cc } = responseDirectives(res);
  for (const f of fieldNames(cc, 'no-cache') ?? []) drop.add(f);
  for (const f of fieldNames(cc, 'private') ?? []) drop.add(f);
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(res)) if (v !== undefined && !drop.has(k)) out[k] = v;
  return out;
}

/** Fields a 304 must not change in the stored response (RFC 9111 §3.2). */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'content-range', 'transfer-encoding']);

/** Merges a 304's header fields into stored ones (RFC 9111 §3.2, §4.3.4). */
export function mergeNotModified(
  stored: Record<string, string | string[]>,
  notModified: HeaderMap,
): Record<string, string | string[]> {
  const out = { ...stored };
  const fresh = storedHeaders(notModified);
  for (const [k, v] of Object.entries(fresh)) if (!NOT_UPDATED.has(k)) out[k] = v;
  return out;
}

/** Does a stored response match the validator a 304 carried (§4.3.4)? Strong ETag compare when present. */
export function notModifiedMatches(stored: HeaderMap, notModified: HeaderMap): boolean {
  const e304 = header(notModified, 'etag');
  const eStored = header(stored, 'etag');
  if (e304 !== undefined) return eStored !== undefined && stripWeak(e304) === stripWeak(eStored);
  const lm304 = header(notModified, 'last-modified');
  if (lm304 !== undefined) return header(stored, 'last-modified') === lm304;
  return true; // no validator in the 304: it refers to the one we sent
}

function stripWeak(e: string): string {
  return e.startsWith('W/') ? e.slice(2) : e;
}

/**
 * Does the client's conditional GET match the stored response (RFC 9110 §13.1)? If-None-Match
 * uses weak comparison and overrides If-Modified-Since.
 */
export function clientNotModified(req: HeaderMap, stored: HeaderMap): boolean {
  const inm = headerList(req, 'if-none-match');
  const etag = header(stored, 'etag');
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    if (etag === undefined) return false;
    const want = stripWeak(etag);
    return inm.split(',').some((t) => stripWeak(t.trim()) === want);
  }
  const ims = parseHttpDate(header(req, 'if-modified-since'));
  const lm = parseHttpDate(header(stored, 'last-modified'));
  if (Number.isNaN(ims) || Number.isNaN(lm)) return false;
  return lm <= ims;
}
