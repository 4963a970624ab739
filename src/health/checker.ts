import { type Clock, systemClock } from '../core/clock.ts';
import { type Logger, silentLogger } from '../core/logger.ts';
import { createMetrics, type Registry } from '../core/metrics.ts';
import type { Topology } from '../topology/index.ts';
import { healthErrors } from './errors.ts';
import { ListenerSet } from './listener-set.ts';
import { type HealthMetrics, healthMetrics } from './metrics.ts';
import { type EndpointEntry, type HealthConfig, planProbes } from './probe-plan.ts';
import { ProbeScheduler } from './probe-scheduler.ts';
import { networkProbe } from './probes/index.ts';
import { quorumSize } from './quorum.ts';
import { RemoteVotes } from './remote-votes.ts';
import type { FaultHook, HealthChangeEvent, HealthChecker, ProbeFn, VerdictSink, VoteEvent } from './types.ts';
import { VerdictBoard } from './verdict-board.ts';
import { voteStaleMs } from './vote-wire.ts';

export type { VerdictSink } from './types.ts';

/** Options of createHealthChecker; only `topology` is required. */
export interface HealthCheckerOptions {
  topology: Topology;
  /** Default: the topology's `health:` section. */
  config?: HealthConfig;
  /** Zones whose probers run in this process (embedded mode: all). */
  probers?: readonly string[];
  clock?: Clock;
  state?: VerdictSink;
  metrics?: Registry;
  logger?: Logger;
  /** The network; tests pass a fake. */
  probe?: ProbeFn;
  /** Simulates a prober zone cut off from an endpoint: 'drop' makes the probe time out. */
  fault?: FaultHook;
  /** Zones probing in other processes; their votes arrive through applyRemoteVote and count in the quorum. */
  remoteProbers?: readonly string[];
  /**
   * A remote vote cast longer ago than this (by this process's wall clock) counts as unknown.
   * Default: 3 republish periods of 5 intervals (`voteStaleMs`, 15 intervals).
   */
  remoteStaleMs?: number;
}

/**
 * Builds the checker: every prober zone probes every endpoint every intervalMs (staggered
 * over the interval so probes don't all leave at once), keeps a vote with rise/fall
 * hysteresis, and flips an endpoint's verdict when a quorum of probers agrees.
 */
export function createHealthChecker(opts: HealthCheckerOptions): HealthChecker {
  const { topology } = opts;
  const cfg = opts.config ?? topology.config.health;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
  const { probers, remote } = voters(opts, cfg);
  const need = quorumSize(cfg.quorum, probers.length + remote.length);
  // 'majority' counts over the live probers; a fixed quorum is the operator's own number
  const needOf = (live: number) => (cfg.quorum === 'majority' ? Math.floor(Math.max(1, live) / 2) + 1 : need);
  const metrics: HealthMetrics = healthMetrics(opts.metrics ?? createMetrics());
  const { entries, loops } = planProbes(topology, cfg, probers, remote, clock, metrics);

  const changes = new ListenerSet<[HealthChangeEvent]>(logger);
  const zoneChanges = new ListenerSet<[string, boolean]>(logger);
  const votes = new ListenerSet<[VoteEvent]>(logger);
  const board = new VerdictBoard(
    { topology, clock, logger, metrics, state: opts.state, need: needOf, remote, changes, zoneChanges },
    entries,
  );
  const recompute = (ep: EndpointEntry) => board.recompute(ep);
  const remoteVotes = new RemoteVotes(
    { clock, intervalMs: cfg.intervalMs, staleMs: opts.remoteStaleMs ?? voteStaleMs(cfg.intervalMs), recompute },
    remote,
    entries,
  );
  const scheduler = new ProbeScheduler(
    {
      clock,
      timeoutMs: cfg.timeoutMs,
      probe: opts.probe ?? networkProbe,
      fault: opts.fault,
      intervalMs: cfg.intervalMs,
      rise: cfg.rise,
      fall: cfg.fall,
      metrics,
      votes,
      recompute,
    },
    loops,
  );

  return {
    verdicts: () => [...entries.values()].map((ep) => board.verdictOf(ep)),
    verdict: (id) => {
      const ep = entries.get(id);
      return ep ? board.verdictOf(ep) : undefined;
    },
    zoneUp(zone) {
      topology.zone(zone);
      return board.zoneUp(zone);
    },
    zoneVotes: (zone) => board.zoneVotes(zone),
    zones: () => board.zones(),
    probers: () => [...probers, ...remote],
    quorum: () => need,
    onChange: (listener) => changes.add(listener),
    onZoneChange: (listener) => zoneChanges.add(listener),
    onVote: (listener) => votes.add(listener),
    applyRemoteVote: (prober, endpointId, state, at) => remoteVotes.apply(prober, endpointId, state, at),
    hold: (on) => board.hold(on),
    start() {
      if (scheduler.start()) remoteVotes.start();
    },
    async stop() {
      remoteVotes.stop();
      await scheduler.stop();
    },
    settle: () => scheduler.settle(),
  };
}

/**
 * The voting zones, checked against the topology (an unknown zone throws): local probers
 * (default: every zone) and remote ones not also local. Refuses a timeout longer than the interval.
 */
function voters(opts: HealthCheckerOptions, cfg: HealthConfig): { probers: string[]; remote: string[] } {
  const { topology } = opts;
  const probers = [...(opts.probers ?? topology.zones.map((z) => z.name))];
  for (const p of probers) topology.zone(p);
  if (cfg.timeoutMs > cfg.intervalMs)
    throw healthErrors.ERR_HEALTH_INVALID_OPTION(
      `health: timeoutMs ${cfg.timeoutMs} exceeds intervalMs ${cfg.intervalMs}`,
    );
  const remote = [...(opts.remoteProbers ?? [])].filter((z) => !probers.includes(z));
  for (const p of remote) topology.zone(p);
  return { probers, remote };
}
