import { TwoGenerationCache } from '../core/two-generation-cache.ts';
import { parseIpv4 } from '../geo/index.ts';
import type { Steering, SteeringAnswer, SteeringState } from '../steering/index.ts';
import type { ServiceConfig, Topology } from '../topology/index.ts';

/** How a name relates to what we serve. */
export type NameKind = 'service' | 'apex' | 'empty' | 'nxdomain' | 'refused';

/** Lower-case, no trailing dot. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** A host name we accept as input: letters, digits, dashes, underscores and dots, ≤ 253. */
export function isHostName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$/.test(s);
}

/**
 * The names under our apex and what each is, built once from the topology; and the one
 * place HTTPDNS asks steering for addresses (deduplicated: endpoints of several zones may
 * share an address when they differ only in port).
 */
export class NameTable {
  readonly apex: string;
  private readonly services = new Map<string, ServiceConfig>();
  /** Per service: its number (part of a decision's cache key) and whether its answers may be cached. */
  private readonly serviceInfo = new Map<string, { index: number; cacheable: boolean }>();
  private readonly parents = new Set<string>();
  /** Decisions by (service number, family, client /24) as one number: no key string to build or hash. */
  private readonly decisions = new TwoGenerationCache<number, CachedDecision>(DECISION_CACHE_MAX);

  constructor(
    topology: Topology,
    private readonly steering: Steering,
    private readonly state: SteeringState | undefined,
  ) {
    this.apex = normalizeName(topology.config.apex);
    for (const [name, svc] of Object.entries(topology.config.services)) {
      const n = normalizeName(name);
      this.services.set(n, svc);
      const policy = topology.config.policies[svc.policy];
      // answers of a sticky policy without the latency stage are a pure function of (client /24, state version)
      this.serviceInfo.set(n, { index: this.serviceInfo.size, cacheable: !!policy?.sticky && !policy.latency });
      // every ancestor between the service and the apex exists, with no data of its own
      let p = n;
      while (p.includes('.') && p !== this.apex) {
        p = p.slice(p.indexOf('.') + 1);
        if (p.length > this.apex.length) this.parents.add(p);
      }
    }
  }

  kind(name: string): NameKind {
    const n = normalizeName(name);
    if (this.services.has(n)) return 'service';
    if (n === this.apex) return 'apex';
    if (!n.endsWith(`.${this.apex}`)) return 'refused';
    return this.parents.has(n) ? 'empty' : 'nxdomain';
  }

  service(name: string): ServiceConfig | undefined {
    return this.services.get(normalizeName(name));
  }

  /**
   * Steering's answer for a service name, or null for a name that is not a service.
   * Answers are kept per (service, family, client /24) while the steering state's version
   * is unchanged — only where that is exact: a sticky policy without the latency stage
   * (its draws are a function of the client /24, and latency ranks change without a
   * version bump), a plain IPv4 client, and an answer whose scope covers the whole /24
   * (the client's geo range is no narrower). Everything else is decided every time.
   */
  decide(name: string, client: string, family: 4 | 6): SteeringAnswer | null {
    return this.decided(normalizeName(name), client, family)?.answer ?? null;
  }

  /**
   * decide() for a normalized name, with the answer's distinct addresses as JSON text and the
   * service's configured TTL (kept with the decision).
   */
  decided(n: string, client: string, family: 4 | 6): CachedDecision | null {
    const svc = this.services.get(n);
    if (!svc || svc.cname) return null;
    // only a state that says when it changes can be cached against (the steering's own default may not)
    const version = (this.state as { version?: unknown } | undefined)?.version;
    const info = this.serviceInfo.get(n)!;
    let key = -1;
    if (typeof version === 'number' && info.cacheable) {
      const v4 = parseIpv4(client);
      if (v4 >= 0) key = (info.index * 2 + (family === 6 ? 1 : 0)) * 0x1000000 + (v4 >>> 8);
    }
    if (key >= 0) {
      const e = this.decisions.get(key);
      if (e !== undefined && e.version === version) return e;
    }
    const answer = this.steering.decide({ service: n, client, family }, this.state);
    const ips = answerIps(answer);
    const e: CachedDecision = {
      answer,
      ipsJson: ips.length === 0 ? '[]' : JSON.stringify(ips),
      originTtl: svc.ttl,
      version: typeof version === 'number' ? version : -1,
    };
    if (key >= 0 && answer.scope <= 24) this.decisions.set(key, e);
    return e;
  }
}

export interface CachedDecision {
  answer: SteeringAnswer;
  /** The answer's distinct addresses, best first, as JSON text. */
  ipsJson: string;
  /** The service's configured TTL. */
  originTtl: number;
  version: number;
}

/** Decisions kept (two generations, roughly LRU). */
const DECISION_CACHE_MAX = 100_000;

/** The distinct addresses of an answer, best first. */
export function answerIps(a: SteeringAnswer | null): string[] {
  if (!a) return [];
  const out: string[] = [];
  for (const e of a.endpoints) if (!out.includes(e.host)) out.push(e.host);
  return out;
}
