import { type Agent, request } from 'undici';
import { drillErrors } from './errors.ts';

/** The control API the drill talks to: its base URL (no trailing slash) and the pool every drill request shares. */
export interface Control {
  base: string;
  dispatcher: Agent;
}

/** The part of GET /api/shardmap the drill reads (`?shards=0` leaves `shards` empty: states only). */
export interface ShardMapJson {
  count: number;
  shards: { shard: number; zone: string; epoch: number }[];
  states: Record<string, { state: string }>;
  global?: { zone: string; epoch: number } | null;
  leader?: { holder?: string; term?: number } | null;
  config: { leaseMs: number };
}

/** Calls the control API at `path` and returns its JSON; unreachable or ≥ 400 is ERR_FAILOVER_DRILL. */
export async function controlJson<T>(
  c: Control,
  path: string,
  method: 'GET' | 'POST' = 'GET',
  body?: unknown,
): Promise<T> {
  const url = `${c.base}${path}`;
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, {
      method,
      dispatcher: c.dispatcher,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw drillErrors.ERR_FAILOVER_DRILL(`drill: cannot reach ${url}: ${(e as Error).message}`, { cause: e });
  }
  const j = (await r.body.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (r.statusCode >= 400)
    throw drillErrors.ERR_FAILOVER_DRILL(
      `drill: ${method} ${url} → ${r.statusCode} ${j.error ?? ''} ${j.message ?? ''}`,
    );
  return j;
}
