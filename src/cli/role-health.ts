import { registerDashboard } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Kv, KvEntry, KvWatch } from '../failover/index.ts';
import { createHealthChecker, HEALTH_SHARED_KEY, type HealthChecker, healthReport } from '../health/index.ts';
import type { ClusterPart } from './roles.ts';

/** Kv keys of shared votes: `health.vote.<prober>.<zone>.<role>` (zone names are Kv-safe). */
const VOTE_PREFIX = 'health.vote.';
/** Local votes are republished every this many intervals, so remote readers don't mark them stale. */
const HEARTBEAT_INTERVALS = 5;

/**
 * Distributed mode: publishes this process's probers' votes to the control Kv and feeds the
 * other processes' votes into the checker, so the quorum counts every zone's prober. The Kv
 * is found lazily (`kv()`, tried every interval) because the part that owns it starts later.
 * Returns a stop function.
 */
export function shareVotes(o: {
  checker: HealthChecker;
  kv: () => Kv | undefined;
  localZones: readonly string[];
  clock: Clock;
  intervalMs: number;
  logger: Logger;
}): () => void {
  const { checker } = o;
  let kv: Kv | undefined;
  let watch: KvWatch | undefined;
  let attaching = false;
  let stopped = false;
  let ticks = 0;
  let offVote: (() => void) | undefined;
  const publish = (prober: string, endpointId: string, state: string) => {
    kv?.put(`${VOTE_PREFIX}${prober}.${endpointId.replace('/', '.')}`, state).catch((e: unknown) => {
      o.logger.debug({ err: e }, 'health: cannot publish a vote');
    });
  };
  const publishAll = () => {
    for (const v of checker.verdicts())
      for (const [prober, vote] of Object.entries(v.votes))
        if (!vote.remote && vote.state !== 'unknown') publish(prober, v.endpointId, vote.state);
  };
  const apply = (e: KvEntry) => {
    const parts = e.key.slice(VOTE_PREFIX.length).split('.');
    if (parts.length !== 3) return;
    const [prober, zone, role] = parts as [string, string, string];
    if (o.localZones.includes(prober)) return;
    const state = e.value === 'up' || e.value === 'down' ? e.value : 'unknown';
    checker.applyRemoteVote(prober, `${zone}/${role}`, state);
  };
  const attach = async () => {
    const found = o.kv();
    if (!found || attaching) return;
    attaching = true;
    try {
      const w = await found.watch(VOTE_PREFIX, apply);
      if (stopped) return w.stop();
      watch = w;
      for (const k of await found.keys(VOTE_PREFIX)) {
        const e = await found.get(k);
        if (e) apply(e);
      }
      kv = found;
      offVote = checker.onVote((e) => publish(e.prober, e.endpointId, e.state));
      publishAll();
    } catch (e) {
      o.logger.warn({ err: e }, 'health: cannot share votes through the control Kv; will retry');
      watch?.stop();
      watch = undefined;
    } finally {
      attaching = false;
    }
  };
  const timer = o.clock.setInterval(o.intervalMs, () => {
    if (!kv) void attach();
    else if (++ticks % HEARTBEAT_INTERVALS === 0) publishAll();
  });
  void attach();
  return () => {
    stopped = true;
    timer.cancel();
    offVote?.();
    watch?.stop();
  };
}

/** The failover part's fault switches, if it runs (duck-typed: only `cut` is used). */
interface ZoneCuts {
  cut(a: string, b: string): boolean;
}

/**
 * True when a drill isolated one of the two zones (`ctx.shared.get('failover').faults`):
 * the probe is dropped as a real partition would drop it, so isolation shows in the
 * verdicts and steering stops sending users to the isolated zone.
 */
function isCut(shared: Map<string, unknown>, from: string, to: string): boolean {
  const faults = (shared.get('failover') as { faults?: Partial<ZoneCuts> } | undefined)?.faults;
  return typeof faults?.cut === 'function' && faults.cut(from, to);
}

/**
 * The health checker as a cluster-wide part: every local zone's prober probes every zone's
 * endpoints, verdicts go to the cluster's steering state, and the checker is published as
 * `ctx.shared.get('health')` (absent when `health.enabled` is false). When this process
 * runs only some zones, votes are shared with the others' processes through the control Kv
 * (`ctx.shared.get('failover').kv`) so the quorum still counts every zone. Also serves
 * `GET /api/health` and the dashboard page at `GET /`.
 */
export const healthPart: ClusterPart = {
  name: 'health',
  async start(ctx) {
    registerDashboard(ctx.control);
    const config = ctx.topology.config.health;
    // zones this process doesn't run probe from their own processes; their votes come through the Kv
    const remote = ctx.topology.zones.map((z) => z.name).filter((z) => !ctx.localZones.includes(z));
    const checker = config.enabled
      ? createHealthChecker({
          topology: ctx.topology,
          config,
          probers: ctx.localZones,
          remoteProbers: remote,
          clock: ctx.clock,
          state: ctx.state,
          metrics: ctx.metrics,
          logger: ctx.logger,
          fault: (from, endpointId) => (isCut(ctx.shared, from, endpointId.split('/')[0]!) ? 'drop' : 'ok'),
        })
      : null;
    if (checker) ctx.shared.set(HEALTH_SHARED_KEY, checker);
    ctx.control.route('GET', '/api/health', () => healthReport(config, checker));
    checker?.start();
    const unshare =
      checker && remote.length > 0
        ? shareVotes({
            checker,
            kv: () => (ctx.shared.get('failover') as { kv?: Kv } | undefined)?.kv,
            localZones: ctx.localZones,
            clock: ctx.clock,
            intervalMs: config.intervalMs,
            logger: ctx.logger,
          })
        : undefined;
    return {
      listeners: [],
      close: async () => {
        unshare?.();
        await checker?.stop();
      },
    };
  },
};
