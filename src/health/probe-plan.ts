import type { Clock, Timer } from '../core/clock.ts';
import type { Topology, TopologyConfig } from '../topology/index.ts';
import type { HealthMetrics } from './metrics.ts';
import { healthTargets, probeSource, steeringIds, zoneAddresses } from './targets.ts';
import type { HealthTarget, ProbeRequest, Vote } from './types.ts';
import { newVote } from './vote.ts';

/** The topology's `health:` section. */
export type HealthConfig = TopologyConfig['health'];

/** One probed endpoint: its verdict, and every zone's vote on it. */
export interface EndpointEntry {
  target: HealthTarget;
  kind: ProbeRequest['kind'];
  up: boolean;
  /** Wall-clock ms of the last flip (or of the start). */
  since: number;
  changes: number;
  /** By prober zone, local and remote. */
  votes: Map<string, Vote>;
  /** Steering's ids for the endpoint. */
  ids: string[];
}

/** One prober zone probing one endpoint on its own schedule. */
export interface ProbeLoop {
  prober: string;
  ep: EndpointEntry;
  vote: Vote;
  req: Omit<ProbeRequest, 'signal'>;
  /** Delay of the first probe after start (ms). */
  offset: number;
  timer: Timer | null;
  abort: AbortController | null;
  /** The fault hook dropped the probe in flight: only the clock can end it. */
  blackHoled: boolean;
}

/** What planProbes builds: every endpoint by id (topology order), and the local probe loops. */
export interface ProbePlan {
  entries: Map<string, EndpointEntry>;
  loops: ProbeLoop[];
}

/**
 * Every endpoint (all up to begin with, its metric set) with a vote per prober zone, and a
 * probe loop per local prober and endpoint. First probes are staggered over the interval so
 * they don't all leave at once.
 */
export function planProbes(
  topology: Topology,
  cfg: HealthConfig,
  probers: readonly string[],
  remote: readonly string[],
  clock: Clock,
  m: HealthMetrics,
): ProbePlan {
  const sources = zoneAddresses(topology);
  const entries = new Map<string, EndpointEntry>();
  const loops: ProbeLoop[] = [];
  const targets = healthTargets(topology);
  const total = probers.length * targets.length;
  for (const [ti, target] of targets.entries()) {
    const spec = cfg.probes[target.role as keyof HealthConfig['probes']];
    const ep: EndpointEntry = {
      target,
      kind: spec.kind,
      up: true,
      since: clock.wallTime(),
      changes: 0,
      votes: new Map(),
      ids: steeringIds(topology, target),
    };
    entries.set(target.id, ep);
    m.endpointUp.set({ endpoint: target.id, zone: target.zone, role: target.role }, 1);
    for (const [pi, prober] of probers.entries()) {
      const vote = newVote();
      ep.votes.set(prober, vote);
      loops.push({
        prober,
        ep,
        vote,
        req: {
          target,
          prober,
          kind: target.http ? 'http' : spec.kind,
          path: target.http?.path ?? spec.path,
          expectStatus: target.http?.expectStatus ?? spec.expectStatus,
          dnsName: topology.config.apex,
          localAddress: probeSource(sources.get(prober), target),
        },
        offset: Math.floor((cfg.intervalMs * (ti * probers.length + pi)) / Math.max(1, total)),
        timer: null,
        abort: null,
        blackHoled: false,
      });
    }
    for (const prober of remote) ep.votes.set(prober, { ...newVote(), remote: true });
  }
  return { entries, loops };
}
