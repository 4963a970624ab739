import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { hasCode } from '../core/errors.ts';
import { HEADERS } from '../shardmap/index.ts';
import type { RequestSigner } from '../trust/index.ts';
import { routerErrors } from './errors.ts';
import { dispatchRelay, type UpstreamReply } from './relay.ts';
import type { RouteContext, RouterDeps } from './types.ts';
import { downstreamHeaders, upstreamHeaders } from './upstreams.ts';

/** True when the request says it has a body (chunked, or a non-zero Content-Length). */
export function hasBody(ctx: RouteContext): boolean {
  const h = ctx.req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads the whole request body into ctx.body (at most `max` bytes). Resolves false when it
 * answered instead: 413 for a larger body, or nothing when the client went away.
 */
export function bufferBody(ctx: RouteContext, deps: RouterDeps, max: number): Promise<boolean> {
  if (ctx.body !== undefined) return Promise.resolve(true);
  if (!hasBody(ctx)) {
    ctx.body = EMPTY;
    return Promise.resolve(true);
  }
  const req = ctx.req;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(ok);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= max) return void chunks.push(c);
      chunks.length = 0;
      settle(false);
      tooLarge(ctx, deps, max);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!settled) ctx.body = Buffer.concat(chunks);
      settle(true);
    });
    req.once('error', () => settle(false));
    req.once('close', () => settle(false));
  });
}

/**
 * Answers 413. The rest of the body is read and dropped, up to another `max` bytes, then the
 * connection is cut: closing at once could reset it before the client reads the 413.
 */
export function tooLarge(ctx: RouteContext, deps: RouterDeps, max: number): void {
  deps.reject(
    ctx,
    413,
    routerErrors.ERR_ROUTER_BODY_TOO_LARGE.code,
    `router: the request body is larger than router.maxBodyBytes (${max})`,
    {
      maxBodyBytes: max,
    },
  );
  let dropped = 0;
  ctx.req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > max) ctx.req.socket?.destroy();
  });
  ctx.req.on('error', () => {});
  ctx.req.resume();
}

/** Passes a streamed body through, failing with ERR_ROUTER_BODY_TOO_LARGE past `max` bytes. */
function limited(max: number): Transform {
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      size += chunk.length;
      if (size > max) cb(routerErrors.ERR_ROUTER_BODY_TOO_LARGE(`router: body over ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

/**
 * Sends the request upstream; resolves with the answer's head (its body relayed by pipeBack
 * or dropped with dump()), or rejects with undici's error. With `signer`, the request carries
 * this zone's signature (the body must be in ctx.body).
 */
export function send(
  ctx: RouteContext,
  pool: Pool,
  extra: Record<string, string>,
  opts: { method?: string; withBody?: boolean; signer?: RequestSigner; maxBodyBytes?: number } = {},
): Promise<UpstreamReply> {
  const withBody = opts.withBody ?? hasBody(ctx);
  const method = opts.method ?? ctx.method;
  const path = ctx.req.url ?? '/';
  const headers = upstreamHeaders(ctx.req.headers, extra);
  let body: Dispatcher.DispatchOptions['body'] = null;
  if (withBody) {
    if (ctx.body !== undefined) body = ctx.body;
    else if (opts.maxBodyBytes !== undefined && ctx.req.headers['content-length'] === undefined) {
      const t = limited(opts.maxBodyBytes);
      ctx.req.on('error', (e) => t.destroy(e));
      body = ctx.req.pipe(t);
    } else body = ctx.req;
  }
  if (opts.signer) {
    if (withBody && ctx.body === undefined) throw new Error('router: signing a request needs its body read first');
    headers[HEADERS.auth] = opts.signer.sign({ method, target: path, headers, body: withBody ? ctx.body : null });
  }
  return dispatchRelay(pool, { path, method: method as Dispatcher.HttpMethod, headers, body });
}

/** Streams an upstream response back to the client with extra headers. */
export function pipeBack(ctx: RouteContext, r: UpstreamReply, extra: Record<string, string>): void {
  const { res } = ctx;
  res.writeHead(r.statusCode, downstreamHeaders(r.headers, ctx.responseHeaders, extra));
  r.relayTo(res);
}

/** Maps an upstream failure to a JSON reply: 413 for a body over the limit, 504 for timeouts, 502 otherwise. */
export function upstreamFailed(ctx: RouteContext, deps: RouterDeps, to: string, e: unknown): void {
  if (hasCode(e, routerErrors.ERR_ROUTER_BODY_TOO_LARGE) && !ctx.res.headersSent) {
    tooLarge(ctx, deps, deps.topology.config.router.maxBodyBytes);
    return;
  }
  const code = (e as { code?: string }).code ?? 'unknown';
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  const timeout = /TIMEOUT/.test(code);
  deps.reject(
    ctx,
    timeout ? 504 : 502,
    routerErrors.ERR_ROUTER_UPSTREAM.code,
    `router: ${to} did not answer (${code})`,
    {
      upstream: to,
      kind: code,
    },
  );
}
