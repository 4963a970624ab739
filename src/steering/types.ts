import type { Random } from '../core/random.ts';
import type { Location } from '../geo/index.ts';
import type { PolicyConfig, Role, Topology, Zone } from '../topology/index.ts';

/** One address a service name can resolve to: a zone's listener for the service's role. */
export interface Endpoint {
  /** `zone/role`, or `zone/role/v6:N` for extra IPv6 addresses. */
  id: string;
  zone: string;
  role: Role;
  host: string;
  port: number;
  family: 4 | 6;
}

/** What the steering brain knows about the world right now. */
export interface SteeringState {
  /** Health verdict for an endpoint id; unknown endpoints count as up. */
  isUp(endpointId: string): boolean;
  /** Current load (requests/s) of a zone, compared with its capacity. */
  load(zone: string): number;
  /**
   * The share of a zone's clients to shed and whether it is over capacity, as the zone loads
   * decided them (hysteresis, slew); undefined: the capacity stage sheds (L − C) / L of load().
   */
  shed?(zone: string): ZoneShed | undefined;
  /** Fastest-first preference from speed reports for a client key, or null when too few reports. */
  latencyRank?(clientKey: string, isp: string | null, zones: readonly string[]): readonly string[] | null;
}

/** A zone's load as steering uses it: requests/s, the share of its clients shed, over capacity or not. */
export interface ZoneShed {
  load: number;
  /** 0..1: clients whose draw is below it see the zone behind the next tier. */
  share: number;
  /** Over capacity (or still shedding): no zone sheds its clients to it. */
  over: boolean;
}

/** The question: who asks (address or ECS subnet), for what, in which family. */
export interface SteeringQuery {
  service: string;
  /** '1.2.3.4' or an ECS subnet '1.2.3.0/24'. */
  client: string;
  family?: 4 | 6;
}

/** The answer: endpoints best first, TTL, and the ECS scope it is valid for. */
export interface SteeringAnswer {
  service: string;
  endpoints: Endpoint[];
  ttl: number;
  /** ECS scope prefix length to return (RFC 7871). */
  scope: number;
  /** True when every endpoint was down and we answered them anyway. */
  failOpen: boolean;
  /** Rule that matched, or 'default'. */
  rule: string;
  location: Location;
}

/** A candidate endpoint with its running preference (lower tier = better). */
export interface Candidate {
  ep: Endpoint;
  zone: Zone;
  tier: number;
  /** Rendezvous score within the tier (lower = earlier). */
  score: number;
}

/** Per-decision context the stages enrich and reorder. */
export interface StageContext {
  readonly query: SteeringQuery;
  readonly location: Location;
  readonly state: SteeringState;
  candidates: Candidate[];
  failOpen: boolean;
  rule: string;
  scope: number;
  /** Key of the client for stickiness and speed reports (its subnet at the sticky prefix). */
  clientKey: string;
  /**
   * Uniform [0,1) for a label: seeded from the client key when sticky (same client, same
   * draw), from the injected Random otherwise.
   */
  uniform(label: string): number;
}

/** Dependencies a stage may use; built once. */
export interface StageDeps {
  topology: Topology;
  random: Random;
}

/** A named stage: created once per policy, run once per decision. */
export interface Stage {
  name: string;
  create(policy: PolicyConfig, deps: StageDeps): ((ctx: StageContext) => void) | null;
}
