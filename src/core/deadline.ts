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
