import { healthErrors } from './errors.ts';
import type { ListenerSet } from './listener-set.ts';
import type { HealthMetrics } from './metrics.ts';
import { type ProbeDeps, probeOnce } from './probe-once.ts';
import type { EndpointEntry, ProbeLoop } from './probe-plan.ts';
import type { VoteEvent } from './types.ts';
import { applyOutcome } from './vote.ts';

/** The reason label of a failed probe: ERR_HEALTH_PROBE_TIMEOUT → 'timeout'. */
function resultLabel(code: string): string {
  const m = /^ERR_HEALTH_PROBE_(.+)$/.exec(code);
  return m ? m[1]!.toLowerCase() : 'connect';
}

/** What the scheduler works with besides the probe itself. */
export interface SchedulerDeps extends ProbeDeps {
  intervalMs: number;
  rise: number;
  fall: number;
  metrics: HealthMetrics;
  votes: ListenerSet<[VoteEvent]>;
  /** Called when a local vote changed state. */
  recompute(ep: EndpointEntry): void;
}

/**
 * Runs the probe loops: each probes once per interval (from its start offset), records the
 * outcome in its vote and has the verdict recomputed when the vote changed.
 */
export class ProbeScheduler {
  private running = false;
  private readonly inFlight = new Map<ProbeLoop, Promise<void>>();

  constructor(
    private readonly d: SchedulerDeps,
    private readonly loops: readonly ProbeLoop[],
  ) {}

  /** Schedules every loop's first probe; false (and nothing done) when already running. */
  start(): boolean {
    if (this.running) return false;
    this.running = true;
    for (const loop of this.loops) this.schedule(loop, loop.offset);
    return true;
  }

  /** Cancels the next probes, aborts those in flight and waits for them. */
  async stop(): Promise<void> {
    this.running = false;
    for (const loop of this.loops) {
      loop.timer?.cancel();
      loop.timer = null;
      loop.abort?.abort(healthErrors.ERR_HEALTH_PROBE_CONNECT('health: checker stopped'));
    }
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Resolves once no probe waits on the network (black-holed ones wait on the clock: not waited for). */
  async settle(): Promise<void> {
    for (;;) {
      const waiting = [...this.inFlight].filter(([l]) => !l.blackHoled).map(([, p]) => p);
      if (waiting.length === 0) return;
      await Promise.allSettled(waiting);
    }
  }

  private async run(loop: ProbeLoop): Promise<void> {
    const { d } = this;
    loop.timer = null;
    if (!this.running) return;
    const started = d.clock.now();
    const o = await probeOnce(d, loop);
    if (!this.running) return;
    if (o.stalled) {
      d.metrics.probes.inc({ result: 'stalled' });
      loop.vote.stalled++;
      this.schedule(loop, Math.max(0, started + d.intervalMs - d.clock.now()));
      return;
    }
    d.metrics.probes.inc({ result: o.ok ? 'ok' : resultLabel(o.error?.code ?? '') });
    d.metrics.probeDuration.observe({ role: loop.ep.target.role }, o.rttMs / 1000);
    if (applyOutcome(loop.vote, o, d.rise, d.fall)) {
      d.votes.emit({ prober: loop.prober, endpointId: loop.ep.target.id, state: loop.vote.state, at: o.at });
      d.recompute(loop.ep);
    }
    // next probe one interval after this one started (at once if the probe took that long)
    this.schedule(loop, Math.max(0, started + d.intervalMs - d.clock.now()));
  }

  private schedule(loop: ProbeLoop, delay: number): void {
    loop.timer = this.d.clock.setTimer(delay, () => {
      const p = this.run(loop).finally(() => this.inFlight.delete(loop));
      this.inFlight.set(loop, p);
    });
  }
}
