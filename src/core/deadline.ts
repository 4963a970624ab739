import type { Clock, Timer } from './clock.ts';

/**
 * `p`, or a rejection with `message` once `ms` pass first on `clock`: a dependency that hangs
 * counts as one that fails. A late failure of `p` is not left unhandled.
 */
export async function within<T>(clock: Clock, p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = clock.setTimer(ms, () => reject(new Error(message)));
  });
  p.catch(() => {});
  try {
    return await Promise.race([p, late]);
  } finally {
    timer?.cancel();
  }
}

/**
 * Waits for `p` at most `ms`: true when it settled in time, false when the wait was given up
 * (`p` runs on; its outcome is the caller's to handle). For work that is retried on the next
 * tick rather than failed, e.g. a renewal a leaderless store swallowed.
 */
export async function settledWithin(clock: Clock, p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: Timer | undefined;
  const gaveUp = new Promise<false>((resolve) => {
    timer = clock.setTimer(ms, () => resolve(false));
  });
  try {
    return await Promise.race([p.then(() => true), gaveUp]);
  } finally {
    timer?.cancel();
  }
}

/**
 * Runs `attempt` until it succeeds or `going()` turns false, waiting 250 ms, 500 ms, … up to
 * 5 s between tries (a database or server coming back after a restart). True once it succeeded.
 */
export async function retryUntil(
  clock: Clock,
  going: () => boolean,
  attempt: () => Promise<void>,
  failed: (e: unknown) => void,
): Promise<boolean> {
  for (let n = 0; going(); n++) {
    try {
      await attempt();
      return true;
    } catch (e) {
      failed(e);
      await clock.sleep(Math.min(5000, 250 * 2 ** n));
    }
  }
  return false;
}
