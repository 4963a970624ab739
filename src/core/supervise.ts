/**
 * What every process multizone supervises shares (the app of `app.command`, edge and DNS
 * workers): the pauses between restarts, and how a child is stopped.
 */
import type { ChildProcess } from 'node:child_process';
import type { Clock } from './clock.ts';

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
const RESET_MS = 60_000;

/**
 * Restart pauses: 0.5 s doubling to 30 s, as systemd's `Restart=on-failure` with a growing
 * pause, so a crash loop does not spin; a run that lasted a minute starts the series again.
 */
export class RestartBackoff {
  private pauseMs = RESTART_MIN_MS;

  /** The pause before the next start, after a run of `ranMs`. */
  next(ranMs: number): number {
    if (ranMs >= RESET_MS) this.pauseMs = RESTART_MIN_MS;
    const pause = this.pauseMs;
    this.pauseMs = Math.min(RESTART_MAX_MS, this.pauseMs * 2);
    return pause;
  }
}

/**
 * Stops a child: `ask` (default SIGTERM), then SIGKILL after `graceMs`; resolves once it is
 * gone (at once when it already is).
 */
export async function stopChild(
  child: ChildProcess,
  clock: Clock,
  graceMs: number,
  ask: () => void = () => child.kill('SIGTERM'),
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  ask();
  const kill = clock.setTimer(graceMs, () => child.kill('SIGKILL'));
  await gone;
  kill.cancel();
}
