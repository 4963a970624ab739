import type { Vote } from './types.ts';

/** A prober's opinion before its first probe. */
export function newVote(): Vote {
  return {
    state: 'unknown',
    lastResult: null,
    successes: 0,
    failures: 0,
    lastError: null,
    lastRttMs: null,
    lastProbeAt: null,
    probes: 0,
    stalled: 0,
  };
}

/** One probe's outcome as the vote sees it. */
export interface ProbeOutcome {
  ok: boolean;
  rttMs: number;
  at: number;
  error?: { code: string; message: string };
  /** The timeout fired late: this process was stalled, so the probe proves nothing either way. */
  stalled?: boolean;
}

/**
 * Hysteresis: a prober calls an endpoint down after `fall` consecutive failures and up
 * after `rise` consecutive successes, so one lost probe doesn't flap the verdict.
 * Mutates the vote; returns true when its state changed.
 */
export function applyOutcome(vote: Vote, o: ProbeOutcome, rise: number, fall: number): boolean {
  const before = vote.state;
  vote.probes++;
  vote.lastProbeAt = o.at;
  vote.lastRttMs = o.rttMs;
  if (o.ok) {
    vote.lastResult = 'ok';
    vote.successes++;
    vote.failures = 0;
    vote.lastError = null;
    if (vote.state !== 'up' && vote.successes >= rise) vote.state = 'up';
  } else {
    vote.lastResult = 'fail';
    vote.failures++;
    vote.successes = 0;
    vote.lastError = o.error ?? null;
    if (vote.state !== 'down' && vote.failures >= fall) vote.state = 'down';
  }
  return vote.state !== before;
}
