/**
 * Writing responses: stored objects (with Age, Cache-Status, 304 for the client's own
 * conditionals, single byte ranges, on-the-fly gzip/brotli), fetched responses, and local
 * replies. HTTP/1 gets the flat header list precomputed at store time.
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { brotliCompressSync, gzipSync, constants as zc } from 'node:zlib';
import type { CachedObject } from './cached-object.ts';
import type { DirectResponse, EdgeCtx } from './context.ts';
import { edgeErrors } from './errors.ts';
import {
  ageHeader,
  clientNotModified,
  currentAge,
  type FreshnessState,
  type HeaderMap,
  header,
  hopByHop,
} from './freshness.ts';
import { parseHttpDate } from './http-date.ts';

/** Bodies larger than this are not compressed on the fly (the work would block the loop). */
export const MAX_COMPRESS = 4 << 20;

/** RFC 9211 Cache-Status value for this request. */
export function cacheStatus(ctx: EdgeCtx, o: FreshnessState | undefined, now: number): string {
  let s = 'multizone';
  if (ctx.fwd_reason === undefined) s += '; hit';
  else {
    s += `; fwd=${ctx.fwd_reason}`;
    if (ctx.fwdStatus !== undefined) s += `; fwd-status=${ctx.fwdStatus}`;
    if (ctx.stored) s += '; stored';
    if (ctx.collapsed) s += '; collapsed';
  }
  if (o) s += `; ttl=${Math.floor(o.lifetime - currentAge(o, now))}`;
  if (ctx.detail) s += `; detail=${ctx.detail}`;
  return s;
}

/** Writes head with a flat [name, value, …] list on HTTP/1, an object on HTTP/2. */
export function writeHead(res: ServerResponse, status: number, flat: string[]): void {
  if ((res as { stream?: unknown }).stream === undefined) {
    res.writeHead(status, flat);
    return;
  }
  const obj: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const prev = obj[k];
    obj[k] = prev === undefined ? flat[i + 1]! : Array.isArray(prev) ? [...prev, flat[i + 1]!] : [prev, flat[i + 1]!];
  }
  res.writeHead(status, obj);
}

/** Picks br or gzip from Accept-Encoding (q > 0), brotli first. */
export function pickEncoding(ae: string | undefined): 'br' | 'gzip' | undefined {
  if (!ae) return undefined;
  let br = false;
  let gz = false;
  for (const part of ae.split(',')) {
    const [n, ...ps] = part.split(';').map((s) => s.trim().toLowerCase());
    if (ps.some((p) => /^q=0(\.0*)?$/.test(p))) continue;
    if (n === 'br') br = true;
    else if (n === 'gzip' || n === 'x-gzip') gz = true;
    else if (n === '*') br = gz = true;
  }
  return br ? 'br' : gz ? 'gzip' : undefined;
}

interface Encoded {
  body: Buffer;
  flat: string[];
}

function encoded(o: CachedObject, enc: 'br' | 'gzip'): Encoded | undefined {
  let e = (o.encoded as Map<string, Encoded | null>).get(enc);
  if (e === undefined) {
    const body =
      enc === 'br'
        ? brotliCompressSync(o.body, {
            params: { [zc.BROTLI_PARAM_QUALITY]: 5, [zc.BROTLI_PARAM_SIZE_HINT]: o.body.length },
          })
        : gzipSync(o.body, { level: 6 });
    if (body.length >= o.body.length) e = null;
    else {
      const flat: string[] = [];
      let varied = false;
      for (let i = 0; i < o.flat.length; i += 2) {
        const k = o.flat[i]!;
        let v = o.flat[i + 1]!;
        if (k === 'content-length') continue;
        // a different representation must not share the identity's strong validator
        if (k === 'etag' && !v.startsWith('W/')) v = `W/${v}`;
        if (k === 'vary') {
          varied = true;
          if (!/(^|,)\s*accept-encoding\s*(,|$)/i.test(v)) v = `${v}, Accept-Encoding`;
        }
        flat.push(k, v);
      }
      if (!varied) flat.push('vary', 'Accept-Encoding');
      flat.push('content-encoding', enc, 'content-length', String(body.length));
      e = { body, flat };
    }
    (o.encoded as Map<string, Encoded | null>).set(enc, e);
  }
  return e ?? undefined;
}

/** Parses a single "bytes=a-b" range against a length; 'invalid' for unsatisfiable, undefined to ignore. */
export function parseRange(v: string | undefined, len: number): { start: number; end: number } | 'invalid' | undefined {
  if (!v) return undefined;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(v.trim());
  if (!m) return undefined; // multiple ranges or other units: answer the whole object (RFC 9110 §14.2)
  const [, a, b] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'invalid';
    return { start: Math.max(0, len - n), end: len - 1 };
  }
  const start = Number(a);
  const end = b === '' ? len - 1 : Math.min(Number(b), len - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= len) return 'invalid';
  return { start, end };
}

/** If-Range (RFC 9110 §13.1.5): the range applies only if the validator still matches (strong). */
function ifRangeMatches(v: string | undefined, o: CachedObject): boolean {
  if (v === undefined) return true;
  if (v.startsWith('"') || v.startsWith('W/')) return o.etag !== undefined && !v.startsWith('W/') && v === o.etag;
  const d = parseHttpDate(v);
  const lm = parseHttpDate(o.lastModified);
  return !Number.isNaN(d) && !Number.isNaN(lm) && d === lm;
}

const NOT_MODIFIED_FIELDS = new Set([
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'vary',
  'content-location',
  'date',
]);

/**
 * What a stored object's reply to this request is, before Age and Cache-Status: its status,
 * the fields that come before them (`flat`: the object's own precomputed list on a full reply,
 * so the lean path can keep its serialised form per list), the fields after them (`after`) and
 * the body (undefined: none, as for HEAD, 204 and 304). Both hit paths deliver from this.
 */
export interface ObjectReply {
  status: number;
  flat: readonly string[];
  after: readonly string[];
  body: Buffer | undefined;
  /** A 416 carries no Age (it is not a representation of the object). */
  noAge?: true;
}

const NO_FIELDS: readonly string[] = [];
const ACCEPT_RANGES: readonly string[] = ['accept-ranges', 'bytes'];

/** The reply to a stored object: the client's conditional (304), one byte range (206/416) or the whole object. */
export function objectReply(ctx: Pick<EdgeCtx, 'headers' | 'method'>, o: CachedObject, compress: boolean): ObjectReply {
  const { headers } = ctx;
  if (
    o.status === 200 &&
    (headers['if-none-match'] !== undefined || headers['if-modified-since'] !== undefined) &&
    clientNotModified(headers, o.headers)
  ) {
    const flat: string[] = [];
    for (let i = 0; i < o.flat.length; i += 2)
      if (NOT_MODIFIED_FIELDS.has(o.flat[i]!)) flat.push(o.flat[i]!, o.flat[i + 1]!);
    return { status: 304, flat, after: NO_FIELDS, body: undefined };
  }
  if (o.status === 200 && headers.range !== undefined && ctx.method === 'GET') {
    const r = parseRange(header(headers, 'range'), o.body.length);
    if (r !== undefined && ifRangeMatches(header(headers, 'if-range'), o)) {
      if (r === 'invalid')
        return {
          status: 416,
          flat: ['content-range', `bytes */${o.body.length}`, 'content-length', '0'],
          after: NO_FIELDS,
          body: undefined,
          noAge: true,
        };
      const flat: string[] = [];
      for (let i = 0; i < o.flat.length; i += 2)
        if (o.flat[i] !== 'content-length') flat.push(o.flat[i]!, o.flat[i + 1]!);
      const part = o.body.subarray(r.start, r.end + 1);
      flat.push('content-range', `bytes ${r.start}-${r.end}/${o.body.length}`, 'content-length', String(part.length));
      return { status: 206, flat, after: NO_FIELDS, body: part };
    }
  }
  let flat: readonly string[] = o.flat;
  let body = o.body;
  if (compress && o.compressible && o.body.length <= MAX_COMPRESS) {
    const enc = pickEncoding(header(headers, 'accept-encoding'));
    const e = enc ? encoded(o, enc) : undefined;
    if (e) {
      flat = e.flat;
      body = e.body;
    }
  }
  const after = o.status === 200 && o.body.length > 0 ? ACCEPT_RANGES : NO_FIELDS;
  const noBody = ctx.method === 'HEAD' || o.status === 204 || o.status === 304;
  return { status: o.status, flat, after, body: noBody ? undefined : body };
}

/** Delivers a stored object; returns body bytes written. */
export function deliverObject(ctx: EdgeCtx, o: CachedObject, now: number, compress: boolean): number {
  const r = objectReply(ctx, o, compress);
  const out = r.flat.slice();
  if (!r.noAge) out.push('age', String(ageHeader(o, now)));
  out.push('cache-status', cacheStatus(ctx, o, now));
  for (const f of r.after) out.push(f);
  writeHead(ctx.res, r.status, out);
  ctx.res.end(r.body);
  return r.body ? r.body.length : 0;
}

/** Delivers a fetched response as it came (hop-by-hop fields removed). Returns body bytes when known. */
export function deliverDirect(ctx: EdgeCtx, d: DirectResponse, now: number): number {
  const drop = hopByHop(d.headers);
  if (ctx.stripSetCookie) drop.add('set-cookie');
  drop.add('cdn-cache-control');
  drop.add('surrogate-key');
  const flat: string[] = [];
  for (const [k, v] of Object.entries(d.headers)) {
    if (v === undefined || drop.has(k) || k === 'content-length') continue;
    if (Array.isArray(v)) for (const x of v) flat.push(k, x);
    else flat.push(k, v);
  }
  flat.push('cache-status', cacheStatus(ctx, undefined, now));
  const noBody = ctx.method === 'HEAD' || d.status === 204 || d.status === 304;
  if (Buffer.isBuffer(d.body)) {
    if (!noBody || d.status !== 304) flat.push('content-length', String(d.body.length));
    writeHead(ctx.res, d.status, flat);
    ctx.res.end(noBody ? undefined : d.body);
    return noBody ? 0 : d.body.length;
  }
  const cl = header(d.headers, 'content-length');
  if (cl !== undefined) flat.push('content-length', cl);
  writeHead(ctx.res, d.status, flat);
  if (noBody) {
    d.body.resume();
    ctx.res.end();
    return 0;
  }
  const stream = d.body;
  stream.on('error', () => ctx.res.destroy());
  stream.pipe(ctx.res);
  return 0;
}

/** Methods the edge answers or forwards (the Allow of its 405). */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
};

/** Default messages of edge-made errors, by status. */
const MESSAGES: Record<number, string> = {
  400: 'edge: malformed request',
  404: 'edge: not found',
  405: 'edge: method not allowed',
  413: 'edge: request body too large',
  414: 'edge: request target too long',
  421: 'edge: this edge does not serve that host',
  431: 'edge: request header fields too large',
  500: 'edge: internal error',
  502: 'edge: no upstream answered',
  503: 'edge: request could not be completed',
  504: 'edge: upstream did not answer in time',
};

/** The JSON body every edge-made error carries: `{"error":"ERR_EDGE_…","message":"…"}`. */
export function errorBody(code: string, status: number, message: string | undefined): string {
  return JSON.stringify({ error: code, message: message ?? MESSAGES[status] ?? `edge: ${status}` });
}

/**
 * Cache-Status of a local reply: nothing was served from the cache, so never `hit`; `fwd`
 * only when the request did go upstream first (a 502 after a failed fetch).
 */
function synthCacheStatus(ctx: EdgeCtx, now: number): string {
  if (ctx.fwd_reason !== undefined) return cacheStatus(ctx, undefined, now);
  return ctx.detail ? `multizone; detail=${ctx.detail}` : 'multizone';
}

/** A whole HTTP/1.1 error response for a raw socket (before or outside node's request handling). */
export function rawErrorReply(status: number, code: string, message: string, detail: string, allow?: string): string {
  const body = errorBody(code, status, message);
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nconnection: close\r\n` +
    'content-type: application/json\r\n' +
    (allow ? `allow: ${allow}\r\n` : '') +
    `cache-status: multizone; detail=${detail}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** A local reply of the edge (errors as JSON with a code and a message). */
export function deliverSynth(ctx: EdgeCtx, now: number): void {
  const s = ctx.synth!;
  const body = s.body ?? errorBody(s.code ?? edgeErrors.ERR_EDGE_UPSTREAM.code, s.status, s.message);
  const flat = ['content-type', s.body === undefined ? 'application/json' : 'text/plain; charset=utf-8'];
  for (const [k, v] of Object.entries(s.headers ?? {})) flat.push(k, v);
  flat.push('content-length', String(Buffer.byteLength(body)), 'cache-status', synthCacheStatus(ctx, now));
  writeHead(ctx.res, s.status, flat);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

/** Turns a buffered prefix plus the rest of a stream back into one stream. */
export function rejoin(prefix: Buffer[], rest: Readable): Readable {
  return Readable.from(
    (async function* () {
      for (const b of prefix) yield b;
      for await (const c of rest) yield c as Buffer;
    })(),
  );
}

export type { HeaderMap };
