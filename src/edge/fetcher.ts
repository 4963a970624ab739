/**
 * Fetching from upstreams: whole objects for the cache (with conditional revalidation and
 * 304 merging), and pass-through for everything else (with invalidation after unsafe methods,
 * RFC 9111 §4.4).
 */
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.ts';
import { normaliseHost, normaliseTarget, primaryKey, secondaryKey } from './cache-key.ts';
import type { CacheStore } from './cache-store.ts';
import { type CachedObject, makeMeta, materialize } from './cached-object.ts';
import type { DirectResponse, EdgeCtx } from './context.ts';
import { rejoin } from './deliver.ts';
import { edgeErrors } from './errors.ts';
import {
  type FreshnessOptions,
  type HeaderMap,
  header,
  mergeNotModified,
  notModifiedMatches,
  storability,
  storedHeaders,
} from './freshness.ts';
import type { UpstreamResponse, Upstreams } from './upstream.ts';

export type FetchOutcome =
  | { kind: 'stored'; obj: CachedObject; status: number; revalidated: boolean }
  | { kind: 'uncacheable'; status: number; reason: string; response: DirectResponse };

/** Request fields not forwarded on a cache fill: we fetch the full, unconditional object. */
const FILL_DROP = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

export interface FetcherDeps {
  clock: Clock;
  store: CacheStore;
  upstreams: Upstreams;
  freshness: FreshnessOptions;
  maxObjectBytes: number;
  maxBodyBytes: number;
  minCompressBytes: number;
  observeOrigin(target: string, seconds: number): void;
}

/** Reads a body up to limit bytes; returns the buffer, or the chunks so far plus the rest. */
async function readLimited(body: Readable, limit: number): Promise<Buffer | { prefix: Buffer[]; rest: Readable }> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    chunks.push(b);
    if (n > limit) return { prefix: chunks, rest: body };
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
}

/** Drops Set-Cookie on static hosts before storability is decided. */
function responseHeaders(ctx: EdgeCtx, r: UpstreamResponse): HeaderMap {
  if (!ctx.stripSetCookie || r.headers['set-cookie'] === undefined) return r.headers;
  const h = { ...r.headers };
  delete h['set-cookie'];
  return h;
}

/** The request's forwarded headers, built on first use. */
export function forwarded(ctx: EdgeCtx): Record<string, string | string[]> {
  if (!ctx.fwd) ctx.fwd = ctx.buildFwd ? ctx.buildFwd(ctx) : { host: ctx.host };
  return ctx.fwd;
}

export class Fetcher {
  constructor(private readonly d: FetcherDeps) {}

  /** Fetches the full object for ctx (a GET, even for HEAD), revalidating `stale` when given. */
  async fetchObject(ctx: EdgeCtx, stale: CachedObject | undefined): Promise<FetchOutcome> {
    const { d } = this;
    const headers: Record<string, string | string[]> = { ...forwarded(ctx) };
    for (const h of FILL_DROP) delete headers[h];
    if (stale) {
      if (stale.etag) headers['if-none-match'] = stale.etag;
      if (stale.lastModified) headers['if-modified-since'] = stale.lastModified;
    }
    const requestTime = d.clock.wallTime();
    const t0 = d.clock.now();
    const r = await d.upstreams.fetch(ctx.kind, ctx.key, { method: 'GET', path: ctx.target, headers });
    d.observeOrigin(r.target.name, (d.clock.now() - t0) / 1000);
    const responseTime = d.clock.wallTime();
    const resHeaders = responseHeaders(ctx, r);

    if (r.status === 304 && stale && notModifiedMatches(stale.headers, resHeaders)) {
      r.body.resume();
      const merged = mergeNotModified(stale.headers, resHeaders);
      const meta = makeMeta({
        key: stale.key,
        variant: stale.variant,
        status: stale.status,
        headers: merged,
        freshnessHeaders: { ...merged, age: resHeaders.age },
        requestTime,
        responseTime,
        opts: d.freshness,
      });
      const obj = materialize(meta, stale.body, d.minCompressBytes);
      d.store.put(obj);
      return { kind: 'stored', obj, status: 304, revalidated: true };
    }

    const body = await readLimited(r.body, d.maxObjectBytes);
    // an origin error while a stale copy exists: keep the copy (stale-if-error decides upstairs)
    if (stale && r.status >= 500 && Buffer.isBuffer(body))
      return {
        kind: 'uncacheable',
        status: r.status,
        reason: 'origin-error',
        response: { status: r.status, headers: resHeaders, body },
      };
    if (!Buffer.isBuffer(body)) {
      if (stale) d.store.remove(stale.id);
      return {
        kind: 'uncacheable',
        status: r.status,
        reason: 'too-large',
        response: { status: r.status, headers: resHeaders, body: rejoin(body.prefix, body.rest) },
      };
    }
    const verdict = storability({ method: 'GET', headers: ctx.headers }, r.status, resHeaders, d.freshness);
    if (verdict.store) {
      const stored = storedHeaders(resHeaders);
      const meta = makeMeta({
        key: ctx.key,
        variant: '',
        status: r.status,
        headers: stored,
        freshnessHeaders: { ...stored, age: resHeaders.age },
        requestTime,
        responseTime,
        opts: d.freshness,
      });
      meta.variant = secondaryKey(meta.vary, ctx.headers);
      // nothing to gain from an object that is stale at once and cannot be revalidated
      const validator = header(stored, 'etag') !== undefined || header(stored, 'last-modified') !== undefined;
      if (meta.lifetime > 0 || validator) {
        const obj = materialize(meta, body, d.minCompressBytes);
        if (stale && stale.id !== obj.id) d.store.remove(stale.id);
        d.store.put(obj);
        return { kind: 'stored', obj, status: r.status, revalidated: false };
      }
      if (stale) d.store.remove(stale.id);
      return {
        kind: 'uncacheable',
        status: r.status,
        reason: 'no-freshness',
        response: { status: r.status, headers: resHeaders, body },
      };
    }
    // the origin no longer lets us keep the old copy (5xx is handled by the caller first)
    if (stale && r.status < 500) d.store.remove(stale.id);
    return {
      kind: 'uncacheable',
      status: r.status,
      reason: verdict.reason,
      response: { status: r.status, headers: resHeaders, body },
    };
  }

  /** Forwards the request unchanged (body included) and sets ctx.direct; invalidates after unsafe methods. */
  async pass(ctx: EdgeCtx): Promise<void> {
    const { d } = this;
    let body: Buffer | undefined;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const b = await readLimited(ctx.req, d.maxBodyBytes);
      if (!Buffer.isBuffer(b)) {
        ctx.synth = { status: 413, code: edgeErrors.ERR_EDGE_BAD_REQUEST.code, headers: { connection: 'close' } };
        ctx.detail = 'body-too-large';
        return;
      }
      body = b;
    }
    const t0 = d.clock.now();
    const r = await d.upstreams.fetch(ctx.kind, ctx.key, {
      method: ctx.method,
      path: ctx.target,
      headers: forwarded(ctx),
      body,
    });
    d.observeOrigin(r.target.name, (d.clock.now() - t0) / 1000);
    ctx.fwdStatus = r.status;
    const headers = responseHeaders(ctx, r);
    if (isUnsafe(ctx.method) && r.status >= 200 && r.status < 400) this.invalidate(ctx, headers);
    ctx.direct = { status: r.status, headers, body: r.body };
  }

  /** RFC 9111 §4.4: the target URI, and Location / Content-Location when same-origin. */
  invalidate(ctx: EdgeCtx, headers: HeaderMap): number {
    let n = this.d.store.purgeKey(ctx.key, true);
    for (const name of ['location', 'content-location']) {
      const v = header(headers, name);
      if (!v) continue;
      const k = sameOriginKey(ctx.host, v);
      if (k) n += this.d.store.purgeKey(k, true);
    }
    return n;
  }
}

function isUnsafe(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS' && method !== 'TRACE';
}

/** The primary key of a URI reference if it is on the same host, else undefined. */
export function sameOriginKey(host: string, ref: string): string | undefined {
  if (ref.startsWith('/') && !ref.startsWith('//')) {
    const t = normaliseTarget(ref);
    return t ? primaryKey(host, t) : undefined;
  }
  const m = /^https?:\/\/([^/?#]+)(\/[^#]*)?/i.exec(ref);
  if (!m) return undefined;
  const h = normaliseHost(m[1], ref.toLowerCase().startsWith('https') ? 443 : 80);
  if (h !== host) return undefined;
  const t = normaliseTarget(m[2] ?? '/');
  return t ? primaryKey(host, t) : undefined;
}
