import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Kv, KvEntry, KvWatch } from '../shardmap/index.ts';
import type { HealthChecker, Vote } from './types.ts';
import { decodeVote, encodeVote, HEARTBEAT_INTERVALS, VOTE_PREFIX, voteStaleMs } from './vote-wire.ts';

/**
 * Distributed mode: publishes this process's probers' votes to the control Kv and feeds the
 * other processes' votes into the checker, so the quorum counts every zone's prober.
 *
 * A vote is published as `{"s":"up","at":<wall ms>}`, `at` being the wall time of the probe
 * behind it, on every change and every `HEARTBEAT_INTERVALS` intervals; receivers judge its
 * freshness by `at` (see RemoteVotes), so a vote read late, re-delivered or replayed does not
 * count as new. A bare legacy value (`up`, `down`) has no cast time and is ignored.
 *
 * Attaching is tried again every interval while the Kv cannot be reached. A process cut off
 * from the Kv for longer than the stale bound logs one warning per such streak: by then the
 * others no longer count its votes, and it counts only its local probers (the remote votes it
 * holds have aged out). Returns a stop function.
 */
export function shareVotes(o: {
  checker: HealthChecker;
  kv: Kv;
  localZones: readonly string[];
  clock: Clock;
  intervalMs: number;
  logger: Logger;
  /** The receivers' stale bound, for the cut-off warning. Default: `voteStaleMs(intervalMs)`. */
  staleMs?: number;
}): () => void {
  const { checker, clock, logger } = o;
  const staleMs = o.staleMs ?? voteStaleMs(o.intervalMs);
  let kv: Kv | undefined;
  let watch: KvWatch | undefined;
  let attaching = false;
  let stopped = false;
  let ticks = 0;
  let offVote: (() => void) | undefined;
  /** Monotonic ms of the last Kv call that succeeded (or of the start), and whether one failed since. */
  let lastOk = clock.now();
  let failing = false;
  let cutWarned = false;
  const failed = (e: unknown, what: string) => {
    failing = true;
    logger.debug({ err: e }, `health: ${what}`);
  };
  const reached = () => {
    if (cutWarned) {
      logger.info({ cutMs: clock.now() - lastOk }, 'health: the control Kv answers again; sharing votes');
      checker.hold(false);
    }
    lastOk = clock.now();
    failing = false;
    cutWarned = false;
  };
  /** Warns once per streak of failures lasting longer than the stale bound. */
  const checkCut = () => {
    if (!failing || cutWarned || clock.now() - lastOk <= staleMs) return;
    cutWarned = true;
    checker.hold(true);
    logger.warn(
      { cutMs: clock.now() - lastOk, staleMs },
      'health: the control Kv cannot be reached: other processes no longer count our votes, and our verdicts hold until it answers again',
    );
  };
  const publish = (prober: string, endpointId: string, state: Vote['state'], at: number) => {
    kv?.put(`${VOTE_PREFIX}${prober}.${endpointId.replace('/', '.')}`, encodeVote({ state, at })).then(
      reached,
      (e: unknown) => failed(e, 'cannot publish a vote'),
    );
  };
  const publishAll = () => {
    for (const v of checker.verdicts())
      for (const [prober, vote] of Object.entries(v.votes))
        if (!vote.remote && vote.state !== 'unknown')
          publish(prober, v.endpointId, vote.state, vote.lastProbeAt ?? clock.wallTime());
  };
  const apply = (e: KvEntry) => {
    // a deleted key withdraws nothing in particular: the vote held ages out on its own
    if (e.value === null) return;
    const parts = e.key.slice(VOTE_PREFIX.length).split('.');
    if (parts.length !== 3) return;
    const [prober, zone, role] = parts as [string, string, string];
    if (o.localZones.includes(prober)) return;
    const vote = decodeVote(e.value);
    if (!vote) return; // legacy bare value or malformed: a vote of unknown age
    checker.applyRemoteVote(prober, `${zone}/${role}`, vote.state, vote.at);
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
      reached();
      offVote = checker.onVote((e) => publish(e.prober, e.endpointId, e.state, e.at));
      publishAll();
    } catch (e) {
      failed(e, 'cannot share votes through the control Kv; will retry');
      watch?.stop();
      watch = undefined;
    } finally {
      attaching = false;
    }
  };
  const timer = clock.setInterval(o.intervalMs, () => {
    checkCut();
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
