import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Kv, KvEntry, KvWatch } from '../shardmap/index.ts';
import type { HealthChecker } from './types.ts';

/** Kv keys of shared votes: `health.vote.<prober>.<zone>.<role>` (zone names are Kv-safe). */
const VOTE_PREFIX = 'health.vote.';
/** Local votes are republished every this many intervals, so remote readers don't mark them stale. */
const HEARTBEAT_INTERVALS = 5;

/**
 * Distributed mode: publishes this process's probers' votes to the control Kv and feeds the
 * other processes' votes into the checker, so the quorum counts every zone's prober. Attaching
 * is tried again every interval while the Kv cannot be reached. Returns a stop function.
 */
export function shareVotes(o: {
  checker: HealthChecker;
  kv: Kv;
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
    const found = o.kv;
    if (attaching) return;
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
