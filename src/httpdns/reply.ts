import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { DIALECT_CODES, type DialectCode } from './errors.ts';

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;

/** Query parameters: URLSearchParams' get() (see QueryParams). */
export interface Params {
  get(name: string): string | null;
}

/** What a route handler gets: the request, the believed client address, the query. */
export interface HandlerContext {
  req: Req;
  res: Res;
  /** The client: socket address, or X-Forwarded-For from a trusted proxy. */
  client: string;
  params: Params;
}

/** Sends JSON; `ttl` sets `Cache-Control: private, max-age=ttl` (answers depend on the client), else no-store. */
export function replyJson(
  res: Res,
  status: number,
  body: unknown,
  ttl?: number,
  extra?: Record<string, string>,
  contentType = 'application/json; charset=utf-8',
): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': ttl === undefined ? 'no-store' : `private, max-age=${Math.max(0, Math.floor(ttl))}`,
    ...extra,
  };
  (res as ServerResponse).writeHead(status, headers);
  res.end(text);
}

/** Sends JSON text the caller built, which must be ASCII (its length is its size); Cache-Control as replyJson. */
export function replyJsonText(res: Res, status: number, text: string, ttl: number): void {
  (res as ServerResponse).writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': text.length,
    'cache-control': `private, max-age=${Math.max(0, Math.floor(ttl))}`,
  });
  res.end(text);
}

/**
 * A request problem: `{error, message, code}`, the stable ERR_ code every multizone surface
 * answers with, and the HTTPDNS dialect's own short `code` that its clients read.
 */
export function replyError(
  res: Res,
  status: number,
  code: DialectCode,
  message: string,
  extra?: Record<string, string>,
): void {
  replyJson(res, status, { error: DIALECT_CODES[code].code, message, code }, undefined, extra);
}

/** After a bug or a vanished client: a 500 if we still can, else the connection is dropped; never throws. */
export function replyFailure(res: Res): void {
  try {
    if (!res.headersSent) replyError(res, 500, 'InternalError', 'internal error');
    else res.destroy?.();
  } catch {
    // the stream is gone
  }
}

/**
 * Reads a body up to `limit` bytes and calls `done` once: with the body, with null when it is
 * larger (the caller answers 413), or with the stream's error. A callback, not a promise: the
 * DoH POST path answers from the 'end' event without a microtask.
 */
export function readBody(req: Req, limit: number, done: (err: Error | null, body: Buffer | null) => void): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    done(null, null);
    return;
  }
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  req.on('data', (c: Buffer) => {
    if (finished) return;
    size += c.length;
    if (size > limit) {
      finished = true;
      done(null, null);
    } else if (first === undefined) first = c;
    else {
      chunks ??= [first];
      chunks.push(c);
    }
  });
  req.on('end', () => {
    if (finished) return;
    finished = true;
    // a small body arrives as one chunk: no copy
    done(null, chunks ? Buffer.concat(chunks) : (first ?? Buffer.alloc(0)));
  });
  req.on('error', (e: Error) => {
    if (finished) return;
    finished = true;
    done(e, null);
  });
}

/** readBody() as a promise; null when the body is larger than `limit`. */
export function readLimited(req: Req, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => readBody(req, limit, (err, body) => (err ? reject(err) : resolve(body))));
}
