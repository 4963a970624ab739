/**
 * A stored response (one variant of one primary key). Everything the hit path needs is
 * computed once, when the object is stored: the delivery header list, Content-Length, the
 * validators and the freshness state. Delivery only adds Age and Cache-Status.
 */

import { varyNames } from './cache-key.ts';
import { type FreshnessOptions, type FreshnessState, freshnessState, header, headerList } from './freshness.ts';
import { formatHttpDate } from './http-date.ts';

/** Serializable part of a stored response (what the disk tier persists). */
export interface ObjectMeta extends FreshnessState {
  /** Primary key (see cache-key.ts). */
  key: string;
  /** Secondary key under `vary` ("" when the response has no Vary). */
  variant: string;
  status: number;
  headers: Record<string, string | string[]>;
  /** Wall ms the request that fetched it was sent. */
  requestTime: number;
  /** Lowercase field names the response varies on. */
  vary: string[];
  /** Surrogate-Key values (purge groups). */
  surrogateKeys: string[];
}

/** A stored response with its body and precomputed delivery data. */
export interface CachedObject extends ObjectMeta {
  body: Buffer;
  /** Full storage key: primary + NUL + variant. */
  id: string;
  /** Flat [name, value, …] list delivered on a 200 hit, with Content-Length; no Age. */
  flat: string[];
  etag: string | undefined;
  lastModified: string | undefined;
  /** Compressed bodies computed on first request, by coding. */
  encoded: Map<string, Buffer | null>;
  /** Is the body worth compressing on the fly (type and size)? Decided at store time. */
  compressible: boolean;
}

/** Response fields never delivered from cache (the edge sets or removes them itself). */
const NOT_DELIVERED = new Set(['age', 'content-length', 'cdn-cache-control', 'surrogate-key', 'surrogate-control']);

const COMPRESSIBLE =
  /^(text\/|application\/(json|javascript|xml|x-javascript|manifest\+json|ld\+json|wasm)|image\/svg\+xml)/i;

/** The stored fields a response from cache carries, as a flat [name, value, …] list (no Content-Length). */
export function deliveryFlat(headers: Record<string, string | string[]>): string[] {
  const flat: string[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (NOT_DELIVERED.has(k)) continue;
    if (Array.isArray(v)) for (const x of v) flat.push(k, x);
    else flat.push(k, v);
  }
  return flat;
}

/** Is a response of this type and coding worth compressing on the fly (size aside)? */
export function compressibleType(headers: Record<string, string | string[] | undefined>): boolean {
  const ce = header(headers, 'content-encoding');
  return (!ce || ce === 'identity') && COMPRESSIBLE.test(header(headers, 'content-type') ?? '');
}

/** Object id from primary key and variant. */
export function objectId(key: string, variant: string): string {
  return `${key}\0${variant}`;
}

/** Builds a stored object from its meta and body, precomputing the delivery data. */
export function materialize(meta: ObjectMeta, body: Buffer, minCompressBytes = 1024): CachedObject {
  const flat = deliveryFlat(meta.headers);
  flat.push('content-length', String(body.length));
  const ce = header(meta.headers, 'content-encoding');
  const ct = header(meta.headers, 'content-type') ?? '';
  return {
    ...meta,
    body,
    id: objectId(meta.key, meta.variant),
    flat,
    etag: header(meta.headers, 'etag'),
    lastModified: header(meta.headers, 'last-modified'),
    encoded: new Map(),
    compressible: (!ce || ce === 'identity') && body.length >= minCompressBytes && COMPRESSIBLE.test(ct),
  };
}

/** Makes the meta of a fresh response from the origin. */
export function makeMeta(args: {
  key: string;
  variant: string;
  status: number;
  headers: Record<string, string | string[]>;
  requestTime: number;
  responseTime: number;
  opts: FreshnessOptions;
  /** Headers freshness is computed from when they differ from the stored ones (Age is not stored). */
  freshnessHeaders?: Record<string, string | string[] | undefined>;
}): ObjectMeta {
  // a stored response always has a Date (RFC 9110 §6.6.1): hits send it with Age
  const headers =
    header(args.headers, 'date') === undefined
      ? { ...args.headers, date: formatHttpDate(args.responseTime) }
      : args.headers;
  const fh = args.freshnessHeaders ?? headers;
  const fs = freshnessState(args.status, fh, args.requestTime, args.responseTime, args.opts);
  const vary = varyNames(headerList(headers, 'vary'));
  const sk = headerList(headers, 'surrogate-key');
  return {
    key: args.key,
    variant: args.variant,
    status: args.status,
    headers,
    requestTime: args.requestTime,
    initialAge: fs.initialAge,
    responseTime: fs.responseTime,
    lifetime: fs.lifetime,
    swr: fs.swr,
    sie: fs.sie,
    noCache: fs.noCache,
    mustRevalidate: fs.mustRevalidate,
    invalidated: false,
    vary: vary === '*' ? [] : vary,
    surrogateKeys: sk ? sk.split(/[\s,]+/).filter(Boolean) : [],
  };
}

/** The persisted meta of an object (drops derived fields). */
export function metaOf(o: CachedObject): ObjectMeta {
  return {
    key: o.key,
    variant: o.variant,
    status: o.status,
    headers: o.headers,
    requestTime: o.requestTime,
    initialAge: o.initialAge,
    responseTime: o.responseTime,
    lifetime: o.lifetime,
    swr: o.swr,
    sie: o.sie,
    noCache: o.noCache,
    mustRevalidate: o.mustRevalidate,
    invalidated: o.invalidated,
    vary: o.vary,
    surrogateKeys: o.surrogateKeys,
  };
}
