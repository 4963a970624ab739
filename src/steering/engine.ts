import { type Random, systemRandom } from '../core/random.ts';
import { type ClientAddr, type GeoDb, intToIpv4, makeAddr, parseClientAddr } from '../geo/index.ts';
import type { PolicyConfig, Topology } from '../topology/index.ts';
import { STAGES } from './stages/order.ts';
import type { Candidate, Endpoint, StageContext, SteeringAnswer, SteeringQuery, SteeringState } from './types.ts';

/** Everyone up, no load: the state before health and metrics are wired in. */
export const staticState: SteeringState = { isUp: () => true, load: () => 0 };

/** The steering brain DNS and HTTPDNS both call. */
export interface Steering {
  decide(q: SteeringQuery, state?: SteeringState): SteeringAnswer;
  /** Every endpoint a service can resolve to, in topology order. */
  endpoints(service: string, family?: 4 | 6): readonly Endpoint[];
}

function isIPv4Text(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
}

/** The endpoints of every service, derived from zones' listeners for the service's role. */
export function serviceEndpoints(topology: Topology, service: string, family: 4 | 6): Endpoint[] {
  const svc = topology.service(service);
  const out: Endpoint[] = [];
  for (const z of topology.zones) {
    const hp = z.listen[svc.role];
    if (!hp) continue;
    if (family === 4) {
      const host = hp.host === 'localhost' ? '127.0.0.1' : hp.host;
      if (isIPv4Text(host))
        out.push({ id: `${z.name}/${svc.role}`, zone: z.name, role: svc.role, host, port: hp.port, family: 4 });
    } else {
      if (hp.host.includes(':'))
        out.push({
          id: `${z.name}/${svc.role}/v6`,
          zone: z.name,
          role: svc.role,
          host: hp.host,
          port: hp.port,
          family: 6,
        });
      for (const [i, a] of z.addresses6.entries()) {
        out.push({
          id: `${z.name}/${svc.role}/v6:${i}`,
          zone: z.name,
          role: svc.role,
          host: a,
          port: hp.port,
          family: 6,
        });
      }
    }
  }
  return out;
}

type Runner = (ctx: StageContext) => void;

/**
 * Builds the steering engine once: per policy, the stage chain; per service and family,
 * the endpoint list. decide() then only looks up the client and runs the chain.
 */
export function createSteering(opts: {
  topology: Topology;
  geo: GeoDb;
  random?: Random;
  state?: SteeringState;
}): Steering {
  const { topology, geo } = opts;
  const random = opts.random ?? systemRandom();
  const defaultState = opts.state ?? staticState;
  const chains = new Map<string, { policy: PolicyConfig; run: Runner[] }>();
  for (const [name, policy] of Object.entries(topology.config.policies)) {
    const run = STAGES.map((s) => s.create(policy, { topology, random })).filter((f): f is Runner => f !== null);
    chains.set(name, { policy, run });
  }
  const eps = new Map<string, readonly Endpoint[]>();
  const zoneOf = new Map(topology.zones.map((z) => [z.name, z]));
  const eps6 = new Map<string, readonly Endpoint[]>();
  // keyed by the lowercased name; a name already in lower case (DNS passes the config's) is
  // found without building a key string: this runs on every DNS answer-cache miss
  const endpoints = (service: string, family: 4 | 6 = 4): readonly Endpoint[] => {
    const byName = family === 4 ? eps : eps6;
    let e = byName.get(service);
    if (e === undefined) {
      const lower = service.toLowerCase();
      e = byName.get(lower);
      if (e === undefined) {
        e = Object.freeze(serviceEndpoints(topology, service, family).map((x) => Object.freeze(x)));
        byName.set(lower, e);
      }
    }
    return e;
  };
  const randomUniform = () => {
    // never 0: −ln(0) is infinite
    const u = random.next();
    return u === 0 ? Number.MIN_VALUE : u;
  };

  return {
    endpoints,
    decide(q, state = defaultState) {
      const svc = topology.service(q.service);
      const chain = chains.get(svc.policy)!;
      const family = q.family ?? 4;
      const location = geo.lookup(q.client);
      const addr = parseClientAddr(q.client);
      const clientKey = stickyKey(addr);
      const candidates: Candidate[] = endpoints(q.service, family).map((ep) => ({
        ep,
        zone: zoneOf.get(ep.zone)!,
        tier: 0,
        score: 0,
      }));
      const ctx: StageContext = {
        query: q,
        location,
        state,
        candidates,
        failOpen: false,
        rule: 'default',
        scope: location.prefix,
        clientKey,
        uniform: randomUniform,
      };
      for (const stage of chain.run) stage(ctx);
      return {
        service: q.service,
        endpoints: ctx.candidates.map((c) => c.ep),
        // a fail-open answer is a guess: keep it short so clients come back soon
        ttl: ctx.failOpen ? Math.min(svc.ttl, 30) : svc.ttl,
        scope: Math.min(ctx.scope, addr.family === 4 ? 32 : 128),
        failOpen: ctx.failOpen,
        rule: ctx.rule,
        location,
      };
    },
  };
}

/** The client's subnet at the sticky prefix (/24 or /56, or narrower if the ECS source is). */
function stickyKey(addr: ClientAddr): string {
  if (addr.family === 4) {
    const p = Math.min(addr.prefix, 24);
    const masked = p === 0 ? 0 : (addr.v4 & ((0xffffffff << (32 - p)) >>> 0)) >>> 0;
    return `${intToIpv4(masked)}/${p}`;
  }
  const p = Math.min(addr.prefix, 56);
  return p === addr.prefix ? `${addr.address}/${p}` : `${makeAddr(6, addr.address, p).address}/${p}`;
}
