/**
 * The `host` filter: the edge serves only the sites it is configured for. A request naming
 * another host is a 421 (RFC 9110 §15.5.20) that never reaches an upstream or the store, so a
 * stray DNS name or a rebinding attack cannot fill the cache under hosts nobody serves. A
 * request with more than one Host field line is a 400 (RFC 9112 §3.2).
 */
import type { TopologyConfig } from '../topology/index.ts';
import type { EdgeCtx } from './context.ts';
import { edgeErrors } from './errors.ts';

/** What the host filter needs from the edge (a subset of the filter deps). */
export interface HostFilterDeps {
  /** Does this edge serve the normalised host (as the validate filter left it in ctx.host)? */
  servesHost(host: string): boolean;
  count(filter: string, result: string): void;
}

/** The hostname of a normalised host ("a.test:8080" → "a.test", "[::1]:80" → "[::1]"). */
export function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/**
 * A matcher for a host list: exact names (any port, case-insensitive), `*.suffix` for every
 * subdomain of suffix, and `name:port` entries that match only that port. An empty list
 * matches every host (an edge built in code without a list; `multizone up` always gives one).
 */
export class HostSet {
  private readonly names = new Set<string>();
  private readonly withPort = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(entries: readonly string[] = []) {
    for (const e of entries) this.add(e);
  }

  /** Adds one entry (a name, `*.suffix` or `name:port`). */
  add(entry: string): void {
    let e = entry.trim().toLowerCase();
    if (e.endsWith('.')) e = e.slice(0, -1);
    if (!e) return;
    if (e.startsWith('*.')) this.suffixes.push(e.slice(1));
    else if (hostName(e) !== e) this.withPort.add(e);
    else this.names.add(e);
  }

  /** No entries: every host matches. */
  get open(): boolean {
    return this.names.size === 0 && this.withPort.size === 0 && this.suffixes.length === 0;
  }

  /** Does a normalised host match? */
  has(host: string): boolean {
    if (this.open) return true;
    if (this.withPort.has(host)) return true;
    const name = hostName(host);
    if (this.names.has(name)) return true;
    for (const s of this.suffixes) if (name.endsWith(s) && name.length > s.length) return true;
    return false;
  }
}

/**
 * The hosts an edge serves when `edge.hosts` is empty: the apex and every service name that
 * resolves to edges (`services: { static.shop.test: { role: edge } }`).
 */
export function defaultEdgeHosts(config: Pick<TopologyConfig, 'apex' | 'services'>): string[] {
  const out = [config.apex];
  for (const [name, svc] of Object.entries(config.services)) if (svc.role === 'edge') out.push(name);
  return out;
}

/** Counts Host field lines (HTTP/1: node keeps only the first in req.headers). */
function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 4 && k.toLowerCase() === 'host') n++;
  }
  return n;
}

/** The filter factory (runs right after `validate`, which fills ctx.host). */
export const hostFilter = {
  name: 'host',
  create(_cfg: unknown, deps: HostFilterDeps) {
    return {
      name: 'host',
      onRequest(ctx: EdgeCtx): 'continue' | 'stop' {
        if (ctx.req.rawHeaders && hostLines(ctx.req.rawHeaders) > 1) {
          deps.count('host', 'duplicate');
          ctx.synth = {
            status: 400,
            code: edgeErrors.ERR_EDGE_BAD_REQUEST.code,
            message: 'edge/host: more than one Host field',
            headers: { connection: 'close' },
          };
          ctx.detail = 'duplicate-host';
          return 'stop';
        }
        if (deps.servesHost(ctx.host)) return 'continue';
        deps.count('host', 'unknown');
        ctx.synth = {
          status: 421,
          code: edgeErrors.ERR_EDGE_UNKNOWN_HOST.code,
          message: `edge/host: this edge does not serve ${ctx.host}`,
        };
        ctx.detail = 'unknown-host';
        return 'stop';
      },
    };
  },
};
