import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

export type Req = IncomingMessage | Http2ServerRequest;
export type Res = ServerResponse | Http2ServerResponse;

/** What a route handler gets: the request, the believed client address, the query. */
export interface HandlerContext {
  req: Req;
  res: Res;
  /** The client: socket address, or X-Forwarded-For from a trusted proxy. */
  client: string;
  params: URLSearchParams;
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

/** A request problem in the `{code, message}` dialect of HTTPDNS services. */
export function replyError(
  res: Res,
  status: number,
  code: string,
  message: string,
  extra?: Record<string, string>,
): void {
  replyJson(res, status, { code, message }, undefined, extra);
}

/** Reads a body up to `limit` bytes; null when it is larger (the caller answers 413). */
export function readLimited(req: Req, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!done) reject(e);
    });
  });
}
