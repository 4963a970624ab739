/**
 * Fetching from upstreams: whole objects for the cache (with conditional revalidation and
 * 304 merging), and pass-through for everything else (with invalidation after unsafe methods,
 * RFC 9111 §4.4).
 */
import type { Readable } from 'node:stream';
import type { Clock } from '../core/clock.ts';
import { normaliseHost, normaliseTarget, primaryKey, secondaryKey } from './cache-key.ts';
import type { CacheStore } from './cache-store.ts';
import { type CachedObject, compressibleType, makeMeta, materialize } from './cached-object.ts';
import type { DirectResponse, EdgeCtx, StreamingFill } from './context.ts';
import { MAX_COMPRESS, pickEncoding, rejoin } from './deliver.ts';
import { edgeErrors } from './errors.ts';
import {
  type FreshnessOptions,
  type HeaderMap,
  HOP_BY_HOP,
  header,
  mergeNotModified,
  notModifiedMatches,
  storability,
  storedHeaders,
} from './freshness.ts';
import { formatHttpDate } from './http-date.ts';
import type { UpstreamResponse, Upstreams } from './upstream.ts';

export type FetchOutcome =
  | { kind: 'stored'; obj: CachedObject; status: number; revalidated: boolean }
  | { kind: 'streaming'; status: number; fill: StreamingFill }
  | { kind: 'uncacheable'; status: number; reason: string; response: DirectResponse };

/** How a fetch may answer. */
export interface FetchOptions {
  /** A stored copy the answer supersedes (defaults to the stale copy being revalidated). */
  replaces?: CachedObject;
  /** The caller can deliver a body while it arrives (a client is waiting on this fetch). */
  stream?: boolean;
}

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
  /** On-the-fly compression is enabled. */
  compress: boolean;
  observeOrigin(target: string, seconds: number): void;
  /** Keys an unsafe request invalidated here (the edge's other workers invalidate them too). */
  invalidated?(keys: string[]): void;
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

/**
 * Relays an origin's 103 Early Hints to the client (RFC 8297) while the final response is
 * still on its way: HTTP/1.1 clients only (1.0 cannot take a 1xx), before our own head.
 */
export function earlyHintsRelay(
  ctx: EdgeCtx,
): ((info: { statusCode: number; headers: Record<string, string | string[]> }) => void) | undefined {
  const res = ctx.res;
  if (!res || ctx.req?.httpVersion !== '1.1') return undefined;
  return (info) => {
    if (info.statusCode !== 103 || res.headersSent || res.writableEnded) return;
    const hints: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(info.headers)) if (!HOP_BY_HOP.has(k)) hints[k] = v;
    if (hints.link === undefined) return;
    try {
      res.writeEarlyHints(hints);
    } catch {
      // a Link value node refuses: the hint is only an optimisation, drop it
    }
  };
}

/** The request's forwarded headers, built on first use. */
export function forwarded(ctx: EdgeCtx): Record<string, string | string[]> {
  if (!ctx.fwd) ctx.fwd = ctx.buildFwd ? ctx.buildFwd(ctx) : { host: ctx.host };
  return ctx.fwd;
}

export class Fetcher {
  constructor(private readonly d: FetcherDeps) {}

  /**
   * Fetches the full object for ctx (a GET, even for HEAD), revalidating `stale` when given.
   * `replaces` is a stored copy the answer supersedes (set on the unconditional refetch).
   */
  async fetchObject(ctx: EdgeCtx, stale: CachedObject | undefined, opts: FetchOptions = {}): Promise<FetchOutcome> {
    const { d } = this;
    const replaces = opts.replaces ?? stale;
    const headers: Record<string, string | string[]> = { ...forwarded(ctx) };
    for (const h of FILL_DROP) delete headers[h];
    if (stale) {
      if (stale.etag) headers['if-none-match'] = stale.etag;
      if (stale.lastModified) headers['if-modified-since'] = stale.lastModified;
    }
    const requestTime = d.clock.wallTime();
    const t0 = d.clock.now();
    const r = await d.upstreams.fetch(ctx.kind, ctx.key, {
      method: 'GET',
      path: ctx.target,
      headers,
      onInfo: earlyHintsRelay(ctx),
    });
    d.observeOrigin(r.target.name, (d.clock.now() - t0) / 1000);
    const responseTime = d.clock.wallTime();
    const resHeaders = responseHeaders(ctx, r);

    if (r.status === 304 && stale && !notModifiedMatches(stale.headers, resHeaders)) {
      // RFC 9111 §4.3.4: a 304 for a validator we do not hold selects nothing we can serve;
      // the client asked for the whole object, so fetch it unconditionally
      r.body.resume();
      return this.fetchObject(ctx, undefined, { replaces: stale, stream: opts.stream });
    }
    if (r.status === 304 && stale) {
      r.body.resume();
      const merged = mergeNotModified(stale.headers, resHeaders);
      // the stored Date becomes the 304's (RFC 9111 §4.3.4), or the time it arrived
      if (header(resHeaders, 'date') === undefined) merged.date = formatHttpDate(responseTime);
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

    if (opts.stream) {
      const fill = this.streamable(ctx, r.status, resHeaders, r.body, requestTime, responseTime, replaces);
      if (fill) return { kind: 'streaming', status: r.status, fill };
    }
    const body = await readLimited(r.body, d.maxObjectBytes);
    // an origin error while a stale copy exists: keep the copy (stale-if-error decides upstairs)
    if (replaces && r.status >= 500 && Buffer.isBuffer(body))
      return {
        kind: 'uncacheable',
        status: r.status,
        reason: 'origin-error',
        response: { status: r.status, headers: resHeaders, body },
      };
    if (!Buffer.isBuffer(body)) {
      if (replaces) d.store.remove(replaces.id);
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
        if (replaces && replaces.id !== obj.id) d.store.remove(replaces.id);
        d.store.put(obj);
        return { kind: 'stored', obj, status: r.status, revalidated: false };
      }
      if (replaces) d.store.remove(replaces.id);
      return {
        kind: 'uncacheable',
        status: r.status,
        reason: 'no-freshness',
        response: { status: r.status, headers: resHeaders, body },
      };
    }
    // the origin no longer lets us keep the old copy (5xx is handled by the caller first)
    if (replaces && r.status < 500) d.store.remove(replaces.id);
    return {
      kind: 'uncacheable',
      status: r.status,
      reason: verdict.reason,
      response: { status: r.status, headers: resHeaders, body },
    };
  }

  /**
   * A fill worth streaming: a storable 200 for a plain GET (no Range, no conditionals: those
   * are answered from the whole object) that fits the store. A text body the client will get
   * compressed is not streamed: it is compressed once, whole, when stored.
   */
  private streamable(
    ctx: EdgeCtx,
    status: number,
    resHeaders: HeaderMap,
    body: Readable,
    requestTime: number,
    responseTime: number,
    replaces: CachedObject | undefined,
  ): StreamingFill | undefined {
    const { d } = this;
    const h = ctx.headers;
    if (status !== 200 || ctx.method !== 'GET') return undefined;
    if (h.range !== undefined || h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined)
      return undefined;
    const clRaw = header(resHeaders, 'content-length');
    const cl = clRaw !== undefined && /^\d+$/.test(clRaw) ? Number(clRaw) : undefined;
    if (cl !== undefined && cl > d.maxObjectBytes) return undefined;
    if (
      d.compress &&
      compressibleType(resHeaders) &&
      pickEncoding(header(h, 'accept-encoding')) !== undefined &&
      (cl === undefined || (cl >= d.minCompressBytes && cl <= MAX_COMPRESS))
    )
      return undefined;
    if (!storability({ method: 'GET', headers: h }, status, resHeaders, d.freshness).store) return undefined;
    const stored = storedHeaders(resHeaders);
    const meta = makeMeta({
      key: ctx.key,
      variant: '',
      status,
      headers: stored,
      freshnessHeaders: { ...stored, age: resHeaders.age },
      requestTime,
      responseTime,
      opts: d.freshness,
    });
    const validator = header(stored, 'etag') !== undefined || header(stored, 'last-modified') !== undefined;
    if (meta.lifetime <= 0 && !validator) return undefined;
    meta.variant = secondaryKey(meta.vary, h);
    return { meta, contentLength: cl, body, replaces };
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
      onInfo: earlyHintsRelay(ctx),
    });
    d.observeOrigin(r.target.name, (d.clock.now() - t0) / 1000);
    ctx.fwdStatus = r.status;
    const headers = responseHeaders(ctx, r);
    if (isUnsafe(ctx.method) && r.status >= 200 && r.status < 400) this.invalidate(ctx, headers);
    ctx.direct = { status: r.status, headers, body: r.body };
  }

  /** RFC 9111 §4.4: the target URI, and Location / Content-Location when same-origin. */
  invalidate(ctx: EdgeCtx, headers: HeaderMap): number {
    const keys = [ctx.key];
    for (const name of ['location', 'content-location']) {
      const v = header(headers, name);
      if (!v) continue;
      const k = sameOriginKey(ctx.host, v);
      if (k) keys.push(k);
    }
    let n = 0;
    for (const k of keys) n += this.d.store.purgeKey(k, true);
    this.d.invalidated?.(keys);
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
