import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import { HEADER_PREFIX } from '../shardmap/index.ts';
import type { HostPort, TopologyConfig } from '../topology/index.ts';

type RouterConfig = TopologyConfig['router'];

/** Kept-alive undici Pools: one to the zone's app, one per other zone's router (made on first use). */
export class Upstreams {
  private readonly pools = new Map<string, { host: string; port: number; pool: Pool }>();

  constructor(
    private readonly config: RouterConfig,
    /** Current address of the app ('app') or a zone's router; undefined when unknown. */
    private readonly resolve: (name: string) => HostPort | undefined,
  ) {}

  /** The pool for 'app' or a zone name; undefined when its address is unknown. */
  get(name: string): Pool | undefined {
    const hp = this.resolve(name);
    if (!hp) return undefined;
    const have = this.pools.get(name);
    if (have && have.host === hp.host && have.port === hp.port) return have.pool;
    if (have) void have.pool.close().catch(() => {});
    const { timeouts, pool } = this.config;
    const origin = `http://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
    const p = new Pool(origin, {
      connections: pool.connections,
      keepAliveTimeout: pool.keepAliveMs,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      connect: { timeout: timeouts.connectMs },
      pipelining: 1,
    });
    this.pools.set(name, { host: hp.host, port: hp.port, pool: p });
    return p;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.pool.destroy().catch(() => {})));
  }
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Request headers for an upstream: hop-by-hop ones and client-sent x-multizone-* dropped. */
export function upstreamHeaders(
  h: IncomingHttpHeaders,
  extra: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || k.startsWith(HEADER_PREFIX)) continue;
    out[k] = v;
  }
  for (const k in extra) out[k] = extra[k]!;
  return out;
}

/** Response headers from an upstream, hop-by-hop ones dropped, then `a` and `b` added. */
export function downstreamHeaders(
  h: Record<string, string | string[] | undefined>,
  a: Record<string, string>,
  b: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  for (const extra of [a, b])
    for (const k in extra) {
      const have = out[k];
      out[k] = k === 'set-cookie' && have ? [...(Array.isArray(have) ? have : [have]), extra[k]!] : extra[k]!;
    }
  return out;
}
