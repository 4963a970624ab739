import { type Agent, request } from 'undici';
import type { Clock } from '../core/clock.ts';
import { drillErrors } from './errors.ts';

/** The control API the drill talks to: its base URL (no trailing slash) and the pool every drill request shares. */
export interface Control {
  base: string;
  dispatcher: Agent;
  /** Waits between retries of a GET answered 503 (the Kv busy for a moment); none without it. */
  clock?: Clock;
}

/** The part of GET /api/shardmap the drill reads (`?shards=0` leaves `shards` empty: states only). */
export interface ShardMapJson {
  count: number;
  shards: { shard: number; zone: string; epoch: number }[];
  states: Record<string, { state: string; up?: boolean }>;
  /** Per zone: its lease as the answering process sees it. */
  zones?: Record<string, { lease?: { valid: boolean } | null }>;
  global?: { zone: string; epoch: number } | null;
  /** The control plane's leader: its process's zones and control API URL (when it published one). */
  leader?: { holder?: string; term?: number; zones?: string[]; control?: string } | null;
  config: { leaseMs: number };
}

const CONTROL_TIMEOUT_MS = 15_000;
/** Waits before retrying a GET answered 503: a Kv leader election or a busy JetStream passes. */
const RETRY_503_MS = [500, 1000, 2000, 4000];

/**
 * Calls the control API at `path` and returns its JSON; unreachable or ≥ 400 is ERR_FAILOVER_DRILL.
 * A GET answered 503 is tried again after 0.5, 1, 2 and 4 s when the control has a clock.
 */
export async function controlJson<T>(
  c: Control,
  path: string,
  method: 'GET' | 'POST' = 'GET',
  body?: unknown,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await controlOnce<T>(c, path, method, body);
    } catch (e) {
      const wait = RETRY_503_MS[attempt];
      if (method !== 'GET' || !c.clock || wait === undefined || !(e as { status503?: boolean }).status503) throw e;
      await c.clock.sleep(wait);
    }
  }
}

async function controlOnce<T>(c: Control, path: string, method: 'GET' | 'POST', body?: unknown): Promise<T> {
  const url = `${c.base}${path}`;
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, {
      method,
      dispatcher: c.dispatcher,
      // the dispatcher's 2 s bound the traffic; a control call may wait on the Kv across a
      // WAN while a zone is faulted, which is slow but not a failure
      headersTimeout: CONTROL_TIMEOUT_MS,
      bodyTimeout: CONTROL_TIMEOUT_MS,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw drillErrors.ERR_FAILOVER_DRILL(`drill: cannot reach ${url}: ${(e as Error).message}`, { cause: e });
  }
  const j = (await r.body.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (r.statusCode >= 400)
    throw Object.assign(
      drillErrors.ERR_FAILOVER_DRILL(`drill: ${method} ${url} → ${r.statusCode} ${j.error ?? ''} ${j.message ?? ''}`),
      { status503: r.statusCode === 503 },
    );
  return j;
}
