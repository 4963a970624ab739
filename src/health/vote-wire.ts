import type { Vote } from './types.ts';

/** Kv keys of shared votes: `health.vote.<prober>.<zone>.<role>` (zone names are Kv-safe). */
export const VOTE_PREFIX = 'health.vote.';

/** Local votes are republished every this many probe intervals (besides on every change). */
export const HEARTBEAT_INTERVALS = 5;

/** A shared vote is stale after this many republish periods: one or two lost republishes are tolerated. */
export const STALE_HEARTBEATS = 3;

/**
 * The default stale bound of a shared vote: `STALE_HEARTBEATS × HEARTBEAT_INTERVALS` probe
 * intervals (30 s at the default 2 s interval). A live vote is at most about one republish
 * period plus one interval old when read, so the receivers' wall clocks may differ from the
 * sender's by up to the rest (about 9 intervals, 18 s at the defaults) before a live vote looks
 * stale; a sender whose clock runs ahead keeps its votes counted that much longer after it died.
 */
export function voteStaleMs(intervalMs: number): number {
  return STALE_HEARTBEATS * HEARTBEAT_INTERVALS * intervalMs;
}

/** A shared vote: the prober's state and the wall time (ms) it was cast (its last probe). */
export interface WireVote {
  state: Vote['state'];
  at: number;
}

/** The Kv value of a vote: `{"s":"up","at":1700000000000}`. */
export function encodeVote(v: WireVote): string {
  return JSON.stringify({ s: v.state, at: v.at });
}

/**
 * A vote read from the Kv, or null when it carries no cast time: the legacy bare form
 * (`up`, `down`) is a vote of unknown age, so it is ignored, as is anything malformed.
 */
export function decodeVote(value: string): WireVote | null {
  if (!value.startsWith('{')) return null;
  let o: unknown;
  try {
    o = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const { s, at } = o as { s?: unknown; at?: unknown };
  if ((s !== 'up' && s !== 'down' && s !== 'unknown') || typeof at !== 'number' || !Number.isFinite(at)) return null;
  return { state: s, at };
}
