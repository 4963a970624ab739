/**
 * Request filters (STYLE.md §2b), run in this fixed order before the cache state machine.
 * Each factory validates its config once and returns a filter (or undefined when disabled);
 * a filter returns 'continue', or 'stop' after setting ctx.synth or answering itself.
 */
import type { TopologyConfig } from '../topology/index.ts';
import { isInternalPath, trustErrors } from '../trust/index.ts';
import { normaliseHost, normaliseTarget, primaryKey } from './cache-key.ts';
import type { EdgeCtx } from './context.ts';
import { edgeErrors } from './errors.ts';
import { HOP_BY_HOP, header, hopByHop, requestDirectives } from './freshness.ts';
import { hostFilter } from './host-filter.ts';

export type EdgeConfig = TopologyConfig['edge'];
export type FilterStatus = 'continue' | 'stop';

/** A per-edge filter instance (shared read-only settings; per-request state lives in ctx). */
export interface EdgeFilter {
  name: string;
  onRequest(ctx: EdgeCtx): FilterStatus | Promise<FilterStatus>;
}

/** What filters may use besides config. */
export interface FilterDeps {
  zone: string;
  /** Zone name → edge base URL ("http://127.0.1.1:18080"), for the zone redirect. */
  zoneEdges(): ReadonlyMap<string, string>;
  /** Handles /.mz/* admin calls; resolves when answered. */
  admin(ctx: EdgeCtx): Promise<void>;
  /** Counts a filter outcome. */
  count(filter: string, result: string): void;
  /** Does this edge serve the (normalised) host? See host-filter.ts. */
  servesHost(host: string): boolean;
}

export interface FilterFactory {
  name: string;
  create(cfg: EdgeConfig, deps: FilterDeps): EdgeFilter | undefined;
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Rejects malformed requests and fills host, target and the primary key. */
export const validateFilter: FilterFactory = {
  name: 'validate',
  create(cfg, deps) {
    const maxUrl = cfg.limits.maxUrlBytes;
    const maxHeaders = cfg.limits.maxHeaders;
    // most requests carry one of a few Host values: remember their normal form
    const hostMemo = new Map<string, string | null>();
    const reject = (ctx: EdgeCtx, status: number, reason: string): FilterStatus => {
      deps.count('validate', reason);
      ctx.synth = { status, code: edgeErrors.ERR_EDGE_BAD_REQUEST.code, headers: { connection: 'close' } };
      ctx.detail = reason;
      return 'stop';
    };
    return {
      name: 'validate',
      onRequest(ctx) {
        const { req, headers } = ctx;
        const url = req.url ?? '';
        if (url.length > maxUrl) return reject(ctx, 414, 'url-too-long');
        if (req.rawHeaders.length > 2 * maxHeaders) return reject(ctx, 431, 'too-many-headers');
        if (!METHOD.test(ctx.method)) return reject(ctx, 400, 'method');
        // framing: node's parser already refuses most of this; repeat it so no proxy path relies on that
        if (headers['transfer-encoding'] !== undefined) {
          if (headers['content-length'] !== undefined) return reject(ctx, 400, 'cl-and-te');
          if (!/^chunked$/i.test(String(headers['transfer-encoding']).trim())) return reject(ctx, 400, 'te');
        }
        if (headers['content-length'] !== undefined) {
          let n = 0;
          for (let i = 0; i < req.rawHeaders.length; i += 2) if (/^content-length$/i.test(req.rawHeaders[i]!)) n++;
          if (n > 1) return reject(ctx, 400, 'duplicate-cl');
        }
        let target = url;
        let hostIn = header(headers, 'host') ?? header(headers, ':authority');
        if (!target.startsWith('/')) {
          // absolute-form: its authority replaces Host (RFC 9112 §3.2.2)
          const m = /^https?:\/\/([^/?#]+)(.*)$/i.exec(target);
          if (!m) return reject(ctx, 400, 'target');
          hostIn = m[1];
          target = m[2] || '/';
        }
        const tls = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
        let host = hostMemo.get(hostIn ?? '');
        if (host === undefined || tls) {
          host = normaliseHost(hostIn, tls ? 443 : 80);
          if (!tls) {
            if (hostMemo.size > 1024) hostMemo.clear();
            hostMemo.set(hostIn ?? '', host);
          }
        }
        if (host === null) return reject(ctx, 400, 'host');
        // most targets are already normal; skip the work then
        const norm = target.includes('%') || target.includes('/.') ? normaliseTarget(target) : target;
        if (norm === null || !/^\/[\x21-\x7e]*$/.test(norm) || norm.includes('#')) return reject(ctx, 400, 'target');
        ctx.host = host;
        ctx.target = norm;
        ctx.key = primaryKey(host, norm);
        return 'continue';
      },
    };
  },
};

/**
 * Paths under /internal are zone-to-zone only: the public listener answers 404 for them
 * however spelled (percent-encoded, dot segments, backslashes, double encoding, case), on the
 * raw target as well as the normalised one, so neither the origin nor the router sees them.
 */
export const internalFilter: FilterFactory = {
  name: 'internal',
  create(_cfg, deps) {
    return {
      name: 'internal',
      onRequest(ctx) {
        if (!isInternalPath(ctx.target) && !isInternalPath(ctx.req.url ?? '/')) return 'continue';
        deps.count('internal', 'stop');
        ctx.synth = { status: 404, code: trustErrors.ERR_TRUST_INTERNAL_PATH.code };
        ctx.detail = 'internal-path';
        return 'stop';
      },
    };
  },
};

/** Serves /.mz/* (purge, push, preload, stats) when an admin token is configured. */
export const adminFilter: FilterFactory = {
  name: 'admin',
  create(_cfg, deps) {
    return {
      name: 'admin',
      // synchronous for every other path: an async filter would put each hit on a promise
      onRequest(ctx) {
        if (!ctx.target.startsWith('/.mz/')) return 'continue';
        deps.count('admin', 'stop');
        return deps.admin(ctx).then(() => 'stop' as const);
      },
    };
  },
};

/** 302 to the zone the `mz_zone` cookie names, when that is another zone with an edge. */
export const zoneRedirectFilter: FilterFactory = {
  name: 'zone-redirect',
  create(cfg, deps) {
    if (!cfg.zoneRedirect) return undefined;
    return {
      name: 'zone-redirect',
      onRequest(ctx) {
        const cookie = header(ctx.headers, 'cookie');
        if (!cookie) return 'continue';
        const m = /(?:^|;\s*)mz_zone=([a-z][a-z0-9-]*)/.exec(cookie);
        const zone = m?.[1];
        if (!zone || zone === deps.zone) return 'continue';
        const base = deps.zoneEdges().get(zone);
        if (!base) return 'continue';
        deps.count('zone-redirect', 'redirect');
        ctx.synth = {
          status: 302,
          body: '',
          headers: { location: base + ctx.target, 'cache-control': 'private, no-store', vary: 'Cookie' },
        };
        ctx.detail = 'zone-redirect';
        return 'stop';
      },
    };
  },
};

/**
 * Headers that change what an origin answers but are not in the cache key. Forwarding them
 * would let one client poison the object every other client gets, so they are removed.
 */
export const UNKEYED = [
  'x-forwarded-host',
  'x-host',
  'x-forwarded-server',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-forwarded-scheme',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
];

const HOP = HOP_BY_HOP;
const EMPTY_CC: ReturnType<typeof requestDirectives> = new Map();

/** Prepares the forwarded header set (built lazily): no hop-by-hop, no unkeyed fields, our own X-Forwarded-* and Via. */
export const forwardFilter: FilterFactory = {
  name: 'forward',
  create(_cfg, deps) {
    const unkeyed = new Set(UNKEYED);
    const via = `1.1 multizone-${deps.zone}`;
    // one shared function per edge; a request builds its forwarded headers only if it goes upstream
    const build = (ctx: EdgeCtx): Record<string, string | string[]> => {
      const h = ctx.headers;
      const conn = h.connection;
      // only a Connection header naming other fields needs the slow path
      const drop = conn && !/^\s*(keep-alive|close)\s*$/i.test(String(conn)) ? hopByHop(h) : HOP;
      const fwd: Record<string, string | string[]> = {};
      let stripped = 0;
      for (const k in h) {
        const v = h[k];
        if (v === undefined || drop.has(k) || k.charCodeAt(0) === 58 /* ':' pseudo-headers */) continue;
        if (unkeyed.has(k)) {
          stripped++;
          continue;
        }
        fwd[k] = v;
      }
      if (stripped) deps.count('forward', 'unkeyed-stripped');
      if (ctx.dropCookie && fwd.cookie !== undefined) {
        delete fwd.cookie;
        deps.count('static-cookies', 'stripped');
      }
      fwd.host = ctx.host;
      const ip = ctx.req.socket?.remoteAddress ?? '';
      const xff = h['x-forwarded-for'];
      fwd['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${ip}` : ip;
      fwd['x-forwarded-proto'] = (ctx.req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http';
      // RFC 9110 §7.6.3: each proxy appends itself to Via
      const prior = h.via;
      fwd.via = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${via}` : via;
      return fwd;
    };
    return {
      name: 'forward',
      onRequest(ctx) {
        const h = ctx.headers;
        ctx.buildFwd = build;
        ctx.reqCc = h['cache-control'] !== undefined || h.pragma !== undefined ? requestDirectives(h) : EMPTY_CC;
        return 'continue';
      },
    };
  },
};

/** On static hosts, requests lose Cookie and responses lose Set-Cookie (cookie-free static domains). */
export const staticCookiesFilter: FilterFactory = {
  name: 'static-cookies',
  create(cfg) {
    if (cfg.staticHosts.length === 0) return undefined;
    const hosts = new Set(cfg.staticHosts.map((h) => normaliseHost(h) ?? h));
    return {
      name: 'static-cookies',
      onRequest(ctx) {
        if (!hosts.has(ctx.host)) return 'continue';
        ctx.stripSetCookie = true;
        ctx.dropCookie = true;
        return 'continue';
      },
    };
  },
};

/** Marks dynamic calls (by path prefix) for the zone's router or app. */
export const routeFilter: FilterFactory = {
  name: 'route',
  create(cfg) {
    const prefixes = cfg.dynamicPrefixes;
    return {
      name: 'route',
      onRequest(ctx) {
        for (const p of prefixes)
          if (ctx.target.startsWith(p)) {
            ctx.kind = 'dynamic';
            break;
          }
        return 'continue';
      },
    };
  },
};

/** The fixed filter order; config turns filters on and off but cannot reorder them. */
export const FILTER_ORDER: readonly FilterFactory[] = [
  validateFilter,
  internalFilter,
  hostFilter,
  adminFilter,
  zoneRedirectFilter,
  forwardFilter,
  staticCookiesFilter,
  routeFilter,
];

/** Builds the chain once per edge. */
export function buildFilters(cfg: EdgeConfig, deps: FilterDeps): EdgeFilter[] {
  const out: EdgeFilter[] = [];
  for (const f of FILTER_ORDER) {
    const x = f.create(cfg, deps);
    if (x) out.push(x);
  }
  return out;
}
