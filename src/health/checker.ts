import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { isPlatformError } from '../core/errors.ts';
import { type Logger, silentLogger } from '../core/logger.ts';
import { createMetrics, type Registry } from '../core/metrics.ts';
import type { Topology, TopologyConfig } from '../topology/index.ts';

type HealthConfig = TopologyConfig['health'];

import { healthErrors } from './errors.ts';
import { type HealthMetrics, healthMetrics } from './metrics.ts';
import { networkProbe } from './probes/index.ts';
import { quorumSize, quorumVerdict } from './quorum.ts';
import { healthTargets, probeSource, steeringIds, zoneAddresses, zoneKeyEndpoint } from './targets.ts';
import type {
  EndpointVerdict,
  FaultHook,
  HealthChangeEvent,
  HealthChecker,
  HealthTarget,
  ProbeFn,
  ProbeRequest,
  Vote,
  VoteEvent,
  ZoneVerdict,
} from './types.ts';
import { applyOutcome, newVote, type ProbeOutcome } from './vote.ts';

/** Where verdicts go: the cluster's MutableSteeringState (only setUp is needed). */
export interface VerdictSink {
  setUp(endpointId: string, up: boolean): void;
}

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
  /** A remote vote not refreshed for this long counts as unknown. Default: 15 intervals. */
  remoteStaleMs?: number;
}

/** One prober zone probing one endpoint on its own schedule. */
interface Loop {
  prober: string;
  ep: EndpointEntry;
  vote: Vote;
  req: Omit<ProbeRequest, 'signal'>;
  offset: number;
  timer: Timer | null;
  abort: AbortController | null;
  /** The fault hook dropped the probe in flight: only the clock can end it. */
  blackHoled: boolean;
}

interface EndpointEntry {
  target: HealthTarget;
  kind: ProbeRequest['kind'];
  up: boolean;
  since: number;
  changes: number;
  votes: Map<string, Vote>;
  ids: string[];
}

/** A timeout firing this much later than due (ms, and fraction of the timeout) means we were stalled. */
const STALL_MIN_MS = 25;
const STALL_FRACTION = 0.25;

/** The reason label of a failed probe: ERR_HEALTH_PROBE_TIMEOUT → 'timeout'. */
function resultLabel(code: string): string {
  const m = /^ERR_HEALTH_PROBE_(.+)$/.exec(code);
  return m ? m[1]!.toLowerCase() : 'connect';
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
  const probe = opts.probe ?? networkProbe;
  const fault = opts.fault;
  const probers = [...(opts.probers ?? topology.zones.map((z) => z.name))];
  for (const p of probers) topology.zone(p);
  if (cfg.timeoutMs > cfg.intervalMs)
    throw healthErrors.ERR_HEALTH_INVALID_OPTION(
      `health: timeoutMs ${cfg.timeoutMs} exceeds intervalMs ${cfg.intervalMs}`,
    );
  const remote = [...(opts.remoteProbers ?? [])].filter((z) => !probers.includes(z));
  for (const p of remote) topology.zone(p);
  const remoteStaleMs = opts.remoteStaleMs ?? cfg.intervalMs * 15;
  const need = quorumSize(cfg.quorum, probers.length + remote.length);
  const m: HealthMetrics = healthMetrics(opts.metrics ?? createMetrics());
  const sources = zoneAddresses(topology);

  const entries = new Map<string, EndpointEntry>();
  const loops: Loop[] = [];
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
          kind: spec.kind,
          path: spec.path,
          expectStatus: spec.expectStatus,
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
  /** When each remote vote was last heard of (monotonic ms), keyed `prober|endpointId`. */
  const remoteHeard = new Map<string, number>();
  const keyOf = new Map(topology.zones.map((z) => [z.name, zoneKeyEndpoint(topology, z.name)]));

  const changeListeners = new Set<(e: HealthChangeEvent) => void>();
  const zoneListeners = new Set<(zone: string, up: boolean) => void>();
  const voteListeners = new Set<(e: VoteEvent) => void>();
  let sweeper: Timer | null = null;
  const inFlight = new Map<Loop, Promise<void>>();
  let running = false;

  const emit = <A extends unknown[]>(set: Set<(...a: A) => void>, ...args: A) => {
    for (const l of [...set]) {
      try {
        l(...args);
      } catch (e) {
        // a consumer's bug must not stop the checker
        logger.error({ err: e }, 'health: change listener threw');
      }
    }
  };

  const zoneUpNow = (zone: string): boolean => {
    const key = keyOf.get(zone);
    return key ? entries.get(key)!.up : true;
  };
  /** What steering is told: the endpoint's own verdict, and its zone's. */
  const answered = (ep: EndpointEntry): boolean => ep.up && zoneUpNow(ep.target.zone);
  const steer = (ep: EndpointEntry) => {
    const a = answered(ep);
    for (const id of ep.ids) opts.state?.setUp(id, a);
  };

  const recompute = (ep: EndpointEntry) => {
    const up = quorumVerdict(ep.up, ep.votes.values(), need);
    if (up === ep.up) return;
    const { target } = ep;
    ep.up = up;
    ep.since = clock.wallTime();
    ep.changes++;
    const isKey = keyOf.get(target.zone) === target.id;
    // a dead zone gets no traffic at all: when its key endpoint flips, so do its others in steering
    if (isKey) {
      for (const other of entries.values()) if (other.target.zone === target.zone) steer(other);
    } else steer(ep);
    m.endpointUp.set({ endpoint: target.id, zone: target.zone, role: target.role }, up ? 1 : 0);
    m.verdictChanges.inc({ to: up ? 'up' : 'down' });
    const votes = Object.fromEntries([...ep.votes].map(([p, v]) => [p, v.state]));
    logger[up ? 'info' : 'warn']({ endpoint: target.id, votes }, `health: ${target.id} is ${up ? 'up' : 'down'}`);
    emit(changeListeners, { endpointId: target.id, zone: target.zone, role: target.role, up, at: ep.since });
    if (isKey) emit(zoneListeners, target.zone, up);
  };

  /** One probe, bounded by the timeout; never rejects. */
  const probeOnce = async (loop: Loop): Promise<ProbeOutcome> => {
    const ac = new AbortController();
    loop.abort = ac;
    const t0 = clock.now();
    let timer: Timer | undefined;
    let timedOut = false;
    let stalled = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimer(cfg.timeoutMs, () => {
        timedOut = true;
        // a timer this late means our own event loop was blocked: the answer may be sitting
        // unread in the socket, so don't blame the endpoint (all probers share this process)
        stalled = clock.now() - t0 - cfg.timeoutMs > Math.max(STALL_MIN_MS, cfg.timeoutMs * STALL_FRACTION);
        const e = healthErrors.ERR_HEALTH_PROBE_TIMEOUT(
          `health: ${loop.ep.target.id} from ${loop.prober}: no answer within ${cfg.timeoutMs} ms`,
        );
        ac.abort(e);
        reject(e);
      });
    });
    const stopped = new Promise<never>((_, reject) =>
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }),
    );
    // a dropped probe is a black hole: nothing comes back, the timeout decides
    loop.blackHoled = fault?.(loop.prober, loop.ep.target.id) === 'drop';
    // (async: a probe that throws synchronously still becomes a failed probe, not a dead loop)
    const attempt = loop.blackHoled
      ? new Promise<void>(() => {})
      : (async () => probe({ ...loop.req, signal: ac.signal }))();
    attempt.catch(() => {});
    timeout.catch(() => {});
    stopped.catch(() => {});
    try {
      await Promise.race([attempt, timeout, stopped]);
      return { ok: true, rttMs: clock.now() - t0, at: clock.wallTime() };
    } catch (e) {
      const error = isPlatformError(e)
        ? { code: e.code, message: e.message }
        : { code: 'ERR_HEALTH_PROBE_CONNECT', message: String((e as Error)?.message ?? e) };
      // a timeout took exactly timeoutMs, however late this continuation runs
      return {
        ok: false,
        rttMs: timedOut ? cfg.timeoutMs : clock.now() - t0,
        at: clock.wallTime(),
        error,
        stalled: timedOut && stalled,
      };
    } finally {
      timer?.cancel();
      loop.abort = null;
      loop.blackHoled = false;
    }
  };

  const run = async (loop: Loop): Promise<void> => {
    loop.timer = null;
    if (!running) return;
    const started = clock.now();
    const o = await probeOnce(loop);
    if (!running) return;
    if (o.stalled) {
      m.probes.inc({ result: 'stalled' });
      loop.vote.stalled++;
      schedule(loop, Math.max(0, started + cfg.intervalMs - clock.now()));
      return;
    }
    m.probes.inc({ result: o.ok ? 'ok' : resultLabel(o.error?.code ?? '') });
    m.probeDuration.observe({ role: loop.ep.target.role }, o.rttMs / 1000);
    if (applyOutcome(loop.vote, o, cfg.rise, cfg.fall)) {
      emit(voteListeners, { prober: loop.prober, endpointId: loop.ep.target.id, state: loop.vote.state });
      recompute(loop.ep);
    }
    // next probe one interval after this one started (at once if the probe took that long)
    schedule(loop, Math.max(0, started + cfg.intervalMs - clock.now()));
  };

  const schedule = (loop: Loop, delay: number) => {
    loop.timer = clock.setTimer(delay, () => {
      const p = run(loop).finally(() => inFlight.delete(loop));
      inFlight.set(loop, p);
    });
  };

  /** Remote votes nobody refreshed count as unknown: a dead process must not vote forever. */
  const sweep = () => {
    const now = clock.now();
    for (const ep of entries.values())
      for (const p of remote) {
        const v = ep.votes.get(p)!;
        const heard = remoteHeard.get(`${p}|${ep.target.id}`);
        if (v.state !== 'unknown' && (heard === undefined || now - heard > remoteStaleMs)) {
          v.state = 'unknown';
          recompute(ep);
        }
      }
  };

  const verdictOf = (ep: EndpointEntry): EndpointVerdict => ({
    endpointId: ep.target.id,
    zone: ep.target.zone,
    role: ep.target.role,
    host: ep.target.host,
    port: ep.target.port,
    kind: ep.kind,
    up: ep.up,
    since: ep.since,
    changes: ep.changes,
    answered: answered(ep),
    votes: Object.fromEntries(
      [...ep.votes].map(([p, v]) => [p, { ...v, lastError: v.lastError ? { ...v.lastError } : null }]),
    ),
  });

  return {
    verdicts: () => [...entries.values()].map(verdictOf),
    verdict: (id) => {
      const ep = entries.get(id);
      return ep ? verdictOf(ep) : undefined;
    },
    zoneUp(zone) {
      topology.zone(zone);
      return zoneUpNow(zone);
    },
    zones: (): ZoneVerdict[] =>
      topology.zones.map((z) => ({ zone: z.name, up: zoneUpNow(z.name), keyEndpoint: keyOf.get(z.name) ?? null })),
    probers: () => [...probers, ...remote],
    quorum: () => need,
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onZoneChange(listener) {
      zoneListeners.add(listener);
      return () => zoneListeners.delete(listener);
    },
    onVote(listener) {
      voteListeners.add(listener);
      return () => voteListeners.delete(listener);
    },
    applyRemoteVote(prober, endpointId, state) {
      const ep = entries.get(endpointId);
      if (!ep || !remote.includes(prober)) return;
      remoteHeard.set(`${prober}|${endpointId}`, clock.now());
      const v = ep.votes.get(prober)!;
      v.lastProbeAt = clock.wallTime();
      if (v.state === state) return;
      v.state = state;
      recompute(ep);
    },
    start() {
      if (running) return;
      running = true;
      for (const loop of loops) schedule(loop, loop.offset);
      if (remote.length > 0) sweeper = clock.setInterval(cfg.intervalMs, sweep);
    },
    async stop() {
      running = false;
      sweeper?.cancel();
      sweeper = null;
      for (const loop of loops) {
        loop.timer?.cancel();
        loop.timer = null;
        loop.abort?.abort(healthErrors.ERR_HEALTH_PROBE_CONNECT('health: checker stopped'));
      }
      await Promise.allSettled([...inFlight.values()]);
    },
    async settle() {
      for (;;) {
        const waiting = [...inFlight].filter(([l]) => !l.blackHoled).map(([, p]) => p);
        if (waiting.length === 0) return;
        await Promise.allSettled(waiting);
      }
    },
  };
}
