/**
 * The admin API on every edge listener, under /.mz/ and behind a bearer token:
 *   POST /.mz/purge    {"urls":[…], "prefixes":[…], "tags":[…], "soft":false}
 *   PUT  /.mz/push?url=/path[&host=h]   body = the object; Content-Type, Cache-Control, ETag, … kept
 *   POST /.mz/preload  {"urls":[…]}     fetch each into the cache now
 *   GET  /.mz/stats    store and upstream figures
 */
import { timingSafeEqual } from 'node:crypto';
import { normaliseHost, normaliseTarget, primaryKey } from './cache-key.ts';
import type { EdgeCtx } from './context.ts';
import { writeHead } from './deliver.ts';
import { edgeErrors } from './errors.ts';

/** Request fields a push keeps as the stored response's fields. */
export const PUSH_FIELDS = [
  'content-type',
  'cache-control',
  'cdn-cache-control',
  'etag',
  'last-modified',
  'expires',
  'surrogate-key',
  'content-encoding',
  'content-language',
  'content-disposition',
];

/** One purge, its URLs already resolved to primary keys and `host+path` prefixes. */
export interface PurgeOp {
  keys: string[];
  prefixes: string[];
  tags: string[];
  soft: boolean;
}

export interface AdminDeps {
  token: string;
  maxObjectBytes: number;
  /** Resolves to the number of objects purged (across every worker of the edge). */
  purge(op: PurgeOp): Promise<number>;
  push(host: string, target: string, headers: Record<string, string>, body: Buffer): Promise<string>;
  preload(host: string, target: string): Promise<{ status: number; stored: boolean }>;
  stats(): unknown;
}

function send(ctx: EdgeCtx, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  writeHead(ctx.res, status, [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(text)),
    'cache-control',
    'no-store',
  ]);
  ctx.res.end(text);
}

async function readAll(ctx: EdgeCtx, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of ctx.req) {
    n += (c as Buffer).length;
    if (n > limit) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks, n);
}

function tokenOk(given: string | undefined, want: string): boolean {
  if (!want || !given?.startsWith('Bearer ')) return false;
  const a = Buffer.from(given.slice(7).trim());
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Resolves "/path" against host, or takes host from an absolute URL; undefined when invalid. */
export function resolveUrl(defaultHost: string, url: string): { host: string; target: string } | undefined {
  let host = defaultHost;
  let target = url;
  const m = /^https?:\/\/([^/?#]+)(\/.*)?$/i.exec(url);
  if (m) {
    const h = normaliseHost(m[1], url.toLowerCase().startsWith('https') ? 443 : 80);
    if (!h) return undefined;
    host = h;
    target = m[2] ?? '/';
  }
  const t = normaliseTarget(target);
  return t ? { host, target: t } : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Answers one /.mz/ request. */
export async function handleAdmin(ctx: EdgeCtx, d: AdminDeps): Promise<void> {
  const path = ctx.target.split('?')[0];
  const q = new URLSearchParams(ctx.target.includes('?') ? ctx.target.slice(ctx.target.indexOf('?') + 1) : '');
  if (!tokenOk(ctx.req.headers.authorization, d.token)) {
    ctx.req.resume();
    send(ctx, d.token ? 401 : 403, {
      error: edgeErrors.ERR_EDGE_UNAUTHORIZED.code,
      message: d.token ? 'a valid bearer token is required' : 'the admin API is disabled (no edge.adminToken)',
    });
    return;
  }
  if (path === '/.mz/stats' && ctx.method === 'GET') return send(ctx, 200, d.stats());
  if (path === '/.mz/push' && ctx.method === 'PUT') {
    const r = resolveUrl(q.get('host') ?? ctx.host, q.get('url') ?? '');
    if (!r) return send(ctx, 400, { error: edgeErrors.ERR_EDGE_BAD_REQUEST.code, message: 'need ?url=/path' });
    const body = await readAll(ctx, d.maxObjectBytes);
    if (!body) return send(ctx, 413, { error: edgeErrors.ERR_EDGE_BAD_REQUEST.code, message: 'object too large' });
    const headers: Record<string, string> = {};
    for (const f of PUSH_FIELDS) {
      const v = ctx.req.headers[f];
      if (typeof v === 'string') headers[f] = v;
    }
    const key = await d.push(r.host, r.target, headers, body);
    return send(ctx, 201, { key, bytes: body.length });
  }
  const body = await readAll(ctx, 1 << 20);
  let json: Record<string, unknown> = {};
  try {
    json = body?.length ? (JSON.parse(body.toString()) as Record<string, unknown>) : {};
  } catch {
    return send(ctx, 400, { error: edgeErrors.ERR_EDGE_BAD_REQUEST.code, message: 'body must be JSON' });
  }
  if (path === '/.mz/purge' && ctx.method === 'POST') {
    const soft = json.soft === true;
    const host = typeof json.host === 'string' ? (normaliseHost(json.host) ?? ctx.host) : ctx.host;
    const op: PurgeOp = { keys: [], prefixes: [], tags: strings(json.tags), soft };
    for (const u of strings(json.urls)) {
      const r = resolveUrl(host, u);
      if (r) op.keys.push(primaryKey(r.host, r.target));
    }
    for (const p of strings(json.prefixes)) {
      const r = resolveUrl(host, p);
      if (r) op.prefixes.push(`${r.host}${r.target}`);
    }
    return send(ctx, 200, { purged: await d.purge(op), soft });
  }
  if (path === '/.mz/preload' && ctx.method === 'POST') {
    const results: { url: string; status: number; stored: boolean }[] = [];
    for (const u of strings(json.urls)) {
      const r = resolveUrl(ctx.host, u);
      if (!r) {
        results.push({ url: u, status: 400, stored: false });
        continue;
      }
      try {
        results.push({ url: u, ...(await d.preload(r.host, r.target)) });
      } catch {
        results.push({ url: u, status: 502, stored: false });
      }
    }
    return send(ctx, 200, { results });
  }
  send(ctx, 404, { error: edgeErrors.ERR_EDGE_BAD_REQUEST.code, message: `no admin route ${ctx.method} ${path}` });
}
