import type { Dispatcher, Pool } from 'undici';
import { routerErrors } from './errors.ts';
import type { RouteContext, RouterDeps } from './types.ts';
import { downstreamHeaders, upstreamHeaders } from './upstreams.ts';

function hasBody(ctx: RouteContext): boolean {
  const h = ctx.req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

/** Sends the request upstream; resolves with the response, or rejects with undici's error. */
export function send(
  ctx: RouteContext,
  pool: Pool,
  extra: Record<string, string>,
  opts: { method?: string; withBody?: boolean } = {},
): Promise<Dispatcher.ResponseData> {
  const withBody = opts.withBody ?? hasBody(ctx);
  return pool.request({
    path: ctx.req.url ?? '/',
    method: (opts.method ?? ctx.method) as Dispatcher.HttpMethod,
    headers: upstreamHeaders(ctx.req.headers, extra),
    body: withBody ? ctx.req : null,
  });
}

/** Streams an upstream response back to the client with extra headers. */
export function pipeBack(ctx: RouteContext, r: Dispatcher.ResponseData, extra: Record<string, string>): void {
  const { res } = ctx;
  res.writeHead(r.statusCode, downstreamHeaders(r.headers, ctx.responseHeaders, extra));
  r.body.on('error', () => res.destroy());
  r.body.pipe(res);
}

/** Maps an upstream failure to a JSON reply: 504 for timeouts, 502 otherwise. */
export function upstreamFailed(ctx: RouteContext, deps: RouterDeps, to: string, e: unknown): void {
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
