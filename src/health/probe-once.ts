import type { Clock, Timer } from '../core/clock.ts';
import { isPlatformError } from '../core/errors.ts';
import { healthErrors } from './errors.ts';
import type { ProbeLoop } from './probe-plan.ts';
import type { FaultHook, ProbeFn } from './types.ts';
import type { ProbeOutcome } from './vote.ts';

/** A timeout firing this much later than due (ms, and fraction of the timeout) means we were stalled. */
const STALL_MIN_MS = 25;
const STALL_FRACTION = 0.25;

/** What one probe needs. */
export interface ProbeDeps {
  clock: Clock;
  timeoutMs: number;
  probe: ProbeFn;
  fault: FaultHook | undefined;
}

/** One probe of a loop, bounded by the timeout (and aborted by stop()); never rejects. */
export async function probeOnce(d: ProbeDeps, loop: ProbeLoop): Promise<ProbeOutcome> {
  const { clock, timeoutMs } = d;
  const ac = new AbortController();
  loop.abort = ac;
  const t0 = clock.now();
  let timer: Timer | undefined;
  let timedOut = false;
  let stalled = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimer(timeoutMs, () => {
      timedOut = true;
      // a timer this late means our own event loop was blocked: the answer may be sitting
      // unread in the socket, so don't blame the endpoint (all probers share this process)
      stalled = clock.now() - t0 - timeoutMs > Math.max(STALL_MIN_MS, timeoutMs * STALL_FRACTION);
      const e = healthErrors.ERR_HEALTH_PROBE_TIMEOUT(
        `health: ${loop.ep.target.id} from ${loop.prober}: no answer within ${timeoutMs} ms`,
      );
      ac.abort(e);
      reject(e);
    });
  });
  const stopped = new Promise<never>((_, reject) =>
    ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }),
  );
  // a dropped probe is a black hole: nothing comes back, the timeout decides
  loop.blackHoled = d.fault?.(loop.prober, loop.ep.target.id) === 'drop';
  // (async: a probe that throws synchronously still becomes a failed probe, not a dead loop)
  const attempt = loop.blackHoled
    ? new Promise<void>(() => {})
    : (async () => d.probe({ ...loop.req, signal: ac.signal }))();
  attempt.catch(() => {});
  timeout.catch(() => {});
  stopped.catch(() => {});
  try {
    await Promise.race([attempt, timeout, stopped]);
    return { ok: true, rttMs: clock.now() - t0, at: clock.wallTime() };
  } catch (e) {
    const error = isPlatformError(e)
      ? { code: e.code, message: e.message }
      : { code: healthErrors.ERR_HEALTH_PROBE_CONNECT.code, message: String((e as Error)?.message ?? e) };
    // a timeout took exactly timeoutMs, however late this continuation runs
    return {
      ok: false,
      rttMs: timedOut ? timeoutMs : clock.now() - t0,
      at: clock.wallTime(),
      error,
      stalled: timedOut && stalled,
    };
  } finally {
    timer?.cancel();
    loop.abort = null;
    loop.blackHoled = false;
  }
}
