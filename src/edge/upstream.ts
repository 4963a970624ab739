/**
 * Where misses go. Static objects: parent edges chosen by consistent hashing (failover to the
 * next parent on the ring), then the origin over the best of its paths (direct, or through a
 * relay such as another zone's edge) ranked by measured latency and error rate. Dynamic calls:
 * the zone's router (or app). Each target has its own keep-alive undici Pool with limits.
 */
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Clock } from '../core/clock.ts';
import { fnv1a, type Random } from '../core/random.ts';
import { edgeErrors } from './errors.ts';
import type { HeaderMap } from './freshness.ts';

/** Pool limits, shared by every target. */
export interface PoolOptions {
  connections: number;
  keepAliveMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

export const DEFAULT_POOL: PoolOptions = {
  connections: 64,
  keepAliveMs: 30_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
};

/** One upstream target with its pool and live measurements. */
export interface Target {
  name: string;
  kind: 'parent' | 'origin' | 'dynamic';
  base: URL;
  pool: Pool;
  /** EWMA of time to response headers, ms (undefined until measured). */
  latencyMs: number | undefined;
  /** EWMA of failures (0..1). */
  errorRate: number;
  requests: number;
}

/** What an upstream answered. */
export interface UpstreamResponse {
  status: number;
  headers: HeaderMap;
  body: Readable;
  target: Target;
}

/** A request to send upstream (headers already filtered). */
export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** Interim (1xx) responses before the final one, e.g. 103 Early Hints. */
  onInfo?: (info: { statusCode: number; headers: Record<string, string | string[]> }) => void;
}

const ALPHA = 0.2;
const VNODES = 64;
// every Nth origin request tries a non-best path so its measurements stay current
const EXPLORE_EVERY = 20;

/** Consistent-hash ring of parents (virtual nodes, FNV-1a). */
export class HashRing<T extends { name: string }> {
  private readonly points: { h: number; t: T }[] = [];

  constructor(targets: readonly T[]) {
    for (const t of targets) for (let v = 0; v < VNODES; v++) this.points.push({ h: fnv1a(`${t.name}#${v}`), t });
    this.points.sort((a, b) => a.h - b.h);
  }

  /** Targets in ring order starting at key's point, each once. */
  order(key: string): T[] {
    if (this.points.length === 0) return [];
    const h = fnv1a(key);
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid]!.h < h) lo = mid + 1;
      else hi = mid;
    }
    const out: T[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < this.points.length && out.length < this.points.length; i++) {
      const p = this.points[(lo + i) % this.points.length]!;
      if (!seen.has(p.t.name)) {
        seen.add(p.t.name);
        out.push(p.t);
      }
    }
    return out;
  }
}

/** Score of an origin path: latency inflated by errors (unmeasured paths look good, so they get tried). */
export function pathScore(t: Pick<Target, 'latencyMs' | 'errorRate'>): number {
  return (t.latencyMs ?? 0) * (1 + 10 * t.errorRate) + 1000 * t.errorRate;
}

/** Orders origin paths best first by measured latency and error rate. */
export function rankPaths<T extends Pick<Target, 'latencyMs' | 'errorRate'>>(paths: readonly T[]): T[] {
  return [...paths].sort((a, b) => pathScore(a) - pathScore(b));
}

function makeTarget(name: string, kind: Target['kind'], url: string, p: PoolOptions): Target {
  const base = new URL(url);
  const pool = new Pool(base.origin, {
    connections: p.connections,
    keepAliveTimeout: p.keepAliveMs,
    headersTimeout: p.headersTimeoutMs,
    bodyTimeout: p.bodyTimeoutMs,
    pipelining: 1,
  });
  return { name, kind, base, pool, latencyMs: undefined, errorRate: 0, requests: 0 };
}

/** Upstream configuration resolved for one edge. */
export interface UpstreamConfig {
  /** Static origin URL. */
  origin: string;
  /** Extra paths to the same origin (relays); ranked with the direct one by measurements. */
  originPaths: readonly string[];
  /** Parent edges (tier 2), consistent-hashed by cache key. */
  parents: readonly string[];
  /** Dynamic upstream (router or app); undefined: dynamic calls go to the origin. */
  dynamic: string | undefined;
  pool: PoolOptions;
}

/** All of an edge's upstream targets and the selection between them. */
export class Upstreams {
  readonly origins: Target[];
  readonly parents: Target[];
  readonly dynamic: Target | undefined;
  private readonly ring: HashRing<Target>;
  private originCalls = 0;

  constructor(
    cfg: UpstreamConfig,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    this.origins = [cfg.origin, ...cfg.originPaths].map((u, i) =>
      makeTarget(i === 0 ? 'origin' : `path-${i}`, 'origin', u, cfg.pool),
    );
    this.parents = cfg.parents.map((u, i) => makeTarget(`parent-${i}`, 'parent', u, cfg.pool));
    this.dynamic = cfg.dynamic ? makeTarget('dynamic', 'dynamic', cfg.dynamic, cfg.pool) : undefined;
    this.ring = new HashRing(this.parents);
  }

  /** Targets to try in order for a request: parents by hash, then origin paths by score. */
  candidates(kind: 'static' | 'dynamic', key: string): Target[] {
    if (kind === 'dynamic' && this.dynamic) return [this.dynamic];
    const paths = rankPaths(this.origins);
    this.originCalls++;
    if (paths.length > 1 && this.originCalls % EXPLORE_EVERY === 0) {
      const i = 1 + this.random.int(paths.length - 1);
      const [x] = paths.splice(i, 1);
      paths.unshift(x!);
    }
    return kind === 'dynamic' ? paths : [...this.ring.order(key), ...paths];
  }

  /**
   * Sends req to the first target that answers, failing over on connection errors, timeouts
   * and (from parents) 502/503/504. Throws ERR_EDGE_UPSTREAM when every target failed.
   */
  async fetch(kind: 'static' | 'dynamic', key: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    const list = this.candidates(kind, key);
    let lastErr: unknown;
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      const started = this.clock.now();
      try {
        const basePath = t.base.pathname === '/' ? '' : t.base.pathname.replace(/\/$/, '');
        const r = await t.pool.request({
          method: req.method as 'GET',
          path: basePath + req.path,
          headers: req.headers,
          body: req.body,
          ...(req.onInfo ? { onInfo: req.onInfo } : {}),
        });
        const failedParent = t.kind === 'parent' && r.statusCode >= 502 && r.statusCode <= 504 && i < list.length - 1;
        this.measure(t, this.clock.now() - started, failedParent || r.statusCode >= 500);
        if (failedParent) {
          r.body.resume();
          lastErr = new Error(`parent answered ${r.statusCode}`);
          continue;
        }
        return { status: r.statusCode, headers: r.headers as HeaderMap, body: r.body, target: t };
      } catch (e) {
        this.measure(t, this.clock.now() - started, true);
        lastErr = e;
        // a request with a body may have been partly sent; don't replay non-idempotent calls
        if (req.body && req.method !== 'PUT' && req.method !== 'DELETE') break;
      }
    }
    throw edgeErrors.ERR_EDGE_UPSTREAM(`edge/fetch: no upstream answered ${req.method} ${req.path}`, {
      cause: lastErr,
    });
  }

  /** Current measurements, for the admin API and tests. */
  describe(): { name: string; kind: string; url: string; latencyMs: number | null; errorRate: number }[] {
    return [...this.parents, ...this.origins, ...(this.dynamic ? [this.dynamic] : [])].map((t) => ({
      name: t.name,
      kind: t.kind,
      url: t.base.href,
      latencyMs: t.latencyMs ?? null,
      errorRate: t.errorRate,
    }));
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.parents, ...this.origins, ...(this.dynamic ? [this.dynamic] : [])].map((t) => t.pool.close()),
    );
  }

  private measure(t: Target, ms: number, failed: boolean): void {
    t.requests++;
    t.latencyMs = t.latencyMs === undefined ? ms : t.latencyMs + ALPHA * (ms - t.latencyMs);
    t.errorRate += ALPHA * ((failed ? 1 : 0) - t.errorRate);
  }
}
