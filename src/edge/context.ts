/** Per-request state shared by the filters and the cache state machine. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Directives } from './cache-control.ts';
import type { CachedObject, ObjectMeta } from './cached-object.ts';
import type { Lead } from './collapser.ts';
import type { HeaderMap } from './freshness.ts';

/** What a leader tells the requests that waited on its fetch. */
export type CollapseOutcome = 'stored' | 'uncacheable';

/** A response that is delivered as fetched (pass, or an answer not stored). */
export interface DirectResponse {
  status: number;
  headers: HeaderMap;
  body: Buffer | Readable;
}

/**
 * A storable miss whose body is still arriving: delivered to the client as it comes and
 * stored when it is complete (stream-fill.ts). `replaces` is the copy it supersedes.
 */
export interface StreamingFill {
  meta: ObjectMeta;
  /** The origin's Content-Length, when it sent one. */
  contentLength: number | undefined;
  body: Readable;
  replaces: CachedObject | undefined;
}

/** A local reply of the edge itself. */
export interface SynthResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Error code shown in the body (JSON) when the reply is an error. */
  code?: string;
  /** Human-readable message in the JSON body (defaults by status). */
  message?: string;
}

/** One request's state. Filters fill the request half; the state machine the rest. */
export interface EdgeCtx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Normalised host (part of the cache key). */
  host: string;
  /** Normalised origin-form target "/path?query". */
  target: string;
  /** Primary cache key. */
  key: string;
  /** Static objects go to parents/origin; dynamic calls to the router or app. */
  kind: 'static' | 'dynamic';
  /** The client's request headers (lowercase names). */
  headers: HeaderMap;
  /** Headers forwarded upstream (unkeyed and hop-by-hop ones removed); built on first use. */
  fwd: Record<string, string | string[]> | undefined;
  /** Builds `fwd` (set by the forward filter; hits never need it). */
  buildFwd: ((ctx: EdgeCtx) => Record<string, string | string[]>) | undefined;
  /** Static host: Cookie is not forwarded. */
  dropCookie: boolean;
  reqCc: Directives;
  /** Static host: Set-Cookie is removed from responses. */
  stripSetCookie: boolean;

  /** The stored object being delivered or revalidated. */
  obj: CachedObject | undefined;
  /** Cache-Status `fwd` reason when the request went upstream. */
  fwd_reason: string | undefined;
  fwdStatus: number | undefined;
  stored: boolean;
  collapsed: boolean;
  /** Metric label of how the request was served. */
  outcome: string;
  detail: string | undefined;
  direct: DirectResponse | undefined;
  /** A storable miss delivered while its body arrives (stream-fill.ts). */
  fill: StreamingFill | undefined;
  synth: SynthResponse | undefined;
  lead: Lead<CollapseOutcome> | undefined;
  restarts: number;
}
