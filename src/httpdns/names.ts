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
  private readonly parents = new Set<string>();

  constructor(
    topology: Topology,
    private readonly steering: Steering,
    private readonly state: SteeringState | undefined,
  ) {
    this.apex = normalizeName(topology.config.apex);
    for (const [name, svc] of Object.entries(topology.config.services)) {
      const n = normalizeName(name);
      this.services.set(n, svc);
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

  /** Steering's answer for a service name, or null for a name that is not a service. */
  decide(name: string, client: string, family: 4 | 6): SteeringAnswer | null {
    const n = normalizeName(name);
    const svc = this.services.get(n);
    if (!svc || svc.cname) return null;
    return this.steering.decide({ service: n, client, family }, this.state);
  }
}

/** The distinct addresses of an answer, best first. */
export function answerIps(a: SteeringAnswer | null): string[] {
  if (!a) return [];
  const out: string[] = [];
  for (const e of a.endpoints) if (!out.includes(e.host)) out.push(e.host);
  return out;
}
