/**
 * The cache state machine (STYLE.md §2d, after Varnish's request FSM). One table of named
 * states; each state does one thing and returns the next state's name; a small driver runs
 * the table, logs transitions at debug level and caps restarts.
 *
 *   recv ─► lookup ─► hit ────────────────────────────► deliver
 *    │        ├─────► miss ──(busy: wait)──► lookup (restart)
 *    │        │         └────► fetch ─► deliver
 *    │        └─────► revalidate ─► fetch ─► deliver
 *    └─► pass ─► deliver                     (errors ─► synth)
 */
import type { Logger } from '../core/logger.ts';
import { secondaryKey } from './cache-key.ts';
import type { CachedObject } from './cached-object.ts';
import type { CollapseOutcome, EdgeCtx } from './context.ts';
import { ALLOWED_METHODS } from './deliver.ts';
import { edgeErrors } from './errors.ts';
import type { FetchOutcome } from './fetcher.ts';
import { type ReuseVerdict, reuseVerdict, staleIfErrorAllowed } from './freshness.ts';

export type StateName =
  | 'recv'
  | 'lookup'
  | 'hit'
  | 'miss'
  | 'revalidate'
  | 'fetch'
  | 'pass'
  | 'deliver'
  | 'synth'
  | 'done';

/** What the states need from the edge. */
export interface FsmDeps {
  now(): number;
  logger: Logger;
  /** Stored variants of a key: at once from memory, or a promise when some are read from disk. */
  variants(key: string): CachedObject[] | Promise<CachedObject[]>;
  isHitForPass(key: string): boolean;
  markHitForPass(key: string): void;
  collapseLead(key: string): EdgeCtx['lead'];
  collapseWait(key: string): Promise<CollapseOutcome> | undefined;
  collapseTimeoutMs: number;
  /** Fetches a cacheable GET (full object, or a streaming fill for a waiting client), storing it when allowed. */
  fetchObject(ctx: EdgeCtx, stale: CachedObject | undefined): Promise<FetchOutcome>;
  /** Revalidates in the background (stale-while-revalidate). */
  backgroundRevalidate(ctx: EdgeCtx, stale: CachedObject): void;
  /** Forwards the request as it is (pass) and invalidates after unsafe methods. */
  pass(ctx: EdgeCtx): Promise<void>;
  deliver(ctx: EdgeCtx): void;
  synth(ctx: EdgeCtx): void;
  countCollapsed(): void;
}

type State = (ctx: EdgeCtx, d: FsmDeps) => StateName | Promise<StateName>;

/** Most state transitions one request may make (restarts included). */
export const MAX_STEPS = 24;
/** Most restarts (re-lookups after waiting on another request's fetch). */
export const MAX_RESTARTS = 3;

function synth(ctx: EdgeCtx, status: number, code: string, detail?: string): StateName {
  ctx.synth = { status, code };
  if (detail) ctx.detail = detail;
  return 'synth';
}

/** Picks the stored variant that matches the request (the newest if several do). */
export function selectVariant(list: CachedObject[], headers: EdgeCtx['headers']): CachedObject | undefined {
  let best: CachedObject | undefined;
  for (const o of list) {
    if (o.variant !== (o.vary.length === 0 ? '' : secondaryKey(o.vary, headers))) continue;
    if (!best || o.responseTime > best.responseTime) best = o;
  }
  return best;
}

function failedFetch(ctx: EdgeCtx, d: FsmDeps, e: unknown): StateName {
  const code = (e as { code?: string }).code;
  const stale = ctx.obj;
  if (stale && staleIfErrorAllowed(stale, ctx.reqCc, d.now())) {
    ctx.detail = 'stale-if-error';
    ctx.outcome = 'stale';
    return 'deliver';
  }
  ctx.obj = undefined;
  // RFC 9111 §5.2.2.2: a stale must-revalidate object that cannot be validated is a 504
  if (stale?.mustRevalidate) return synth(ctx, 504, edgeErrors.ERR_EDGE_UPSTREAM.code, 'must-revalidate');
  if (code === edgeErrors.ERR_EDGE_COLLAPSE_TIMEOUT.code) return synth(ctx, 504, code, 'collapse-timeout');
  return synth(ctx, 502, edgeErrors.ERR_EDGE_UPSTREAM.code, 'upstream-error');
}

/** The lookup's decision once the stored variants are known (RFC 9111 §4: reuse, revalidate or miss). */
function decide(ctx: EdgeCtx, d: FsmDeps, list: CachedObject[]): StateName {
  const o = list.length ? selectVariant(list, ctx.headers) : undefined;
  if (!o) {
    if (ctx.reqCc.has('only-if-cached')) return synth(ctx, 504, edgeErrors.ERR_EDGE_UPSTREAM.code, 'only-if-cached');
    if (d.isHitForPass(ctx.key)) {
      ctx.fwd_reason = 'bypass';
      ctx.detail = 'hit-for-pass';
      return 'pass';
    }
    ctx.fwd_reason = list.length ? 'vary-miss' : 'uri-miss';
    return 'miss';
  }
  ctx.obj = o;
  const v: ReuseVerdict = reuseVerdict(o, ctx.reqCc, d.now());
  if (v === 'fresh') return 'hit';
  if (v === 'stale-allowed') {
    ctx.detail = 'max-stale';
    ctx.outcome = 'stale';
    return 'hit';
  }
  if (v === 'stale-while-revalidate') {
    ctx.detail = 'stale-while-revalidate';
    ctx.outcome = 'stale';
    d.backgroundRevalidate(ctx, o);
    return 'hit';
  }
  if (ctx.reqCc.has('only-if-cached')) return synth(ctx, 504, edgeErrors.ERR_EDGE_UPSTREAM.code, 'only-if-cached');
  ctx.fwd_reason = ctx.reqCc.has('no-cache') || ctx.reqCc.has('max-age') ? 'request' : 'stale';
  return 'revalidate';
}

/** The state table. */
export const STATES: Record<Exclude<StateName, 'done'>, State> = {
  recv(ctx) {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') return 'lookup';
    // TRACE echoes the request (cookies, credentials) back: cross-site tracing; never forward it
    if (ctx.method === 'TRACE') {
      ctx.synth = {
        status: 405,
        code: edgeErrors.ERR_EDGE_METHOD_NOT_ALLOWED.code,
        message: 'edge: TRACE is not served here',
        headers: { allow: ALLOWED_METHODS },
      };
      ctx.detail = 'method';
      return 'synth';
    }
    ctx.fwd_reason = 'method';
    return 'pass';
  },

  lookup(ctx, d) {
    const list = d.variants(ctx.key);
    // a disk-tier read makes the lookup asynchronous; memory hits stay synchronous
    return Array.isArray(list) ? decide(ctx, d, list) : list.then((l) => decide(ctx, d, l));
  },

  hit(ctx) {
    if (ctx.outcome === 'pending') ctx.outcome = 'hit';
    return 'deliver';
  },

  async miss(ctx, d) {
    const waiting = d.collapseWait(ctx.key);
    if (waiting) {
      d.countCollapsed();
      ctx.collapsed = true;
      try {
        const r = await waiting;
        if (r === 'uncacheable') return 'pass';
        ctx.restarts++;
        if (ctx.restarts > MAX_RESTARTS) return synth(ctx, 503, edgeErrors.ERR_EDGE_FSM_LOOP.code, 'restarts');
        return 'lookup';
      } catch (e) {
        return failedFetch(ctx, d, e);
      }
    }
    ctx.lead = d.collapseLead(ctx.key);
    return 'fetch';
  },

  async revalidate(ctx, d) {
    // concurrent revalidations of one object collapse like misses
    const waiting = d.collapseWait(ctx.key);
    if (waiting) {
      d.countCollapsed();
      ctx.collapsed = true;
      try {
        await waiting;
        ctx.restarts++;
        if (ctx.restarts > MAX_RESTARTS) return synth(ctx, 503, edgeErrors.ERR_EDGE_FSM_LOOP.code, 'restarts');
        ctx.obj = undefined;
        return 'lookup';
      } catch (e) {
        return failedFetch(ctx, d, e);
      }
    }
    ctx.lead = d.collapseLead(ctx.key);
    return 'fetch';
  },

  async fetch(ctx, d) {
    const stale = ctx.obj;
    let r: FetchOutcome;
    try {
      r = await d.fetchObject(ctx, stale);
    } catch (e) {
      ctx.lead?.fail(e);
      ctx.lead = undefined;
      return failedFetch(ctx, d, e);
    }
    ctx.fwdStatus = r.status;
    if (r.kind === 'streaming') {
      // the lead is settled by the delivery, when the whole body is stored (or failed)
      ctx.fill = r.fill;
      ctx.stored = true;
      ctx.outcome = 'miss';
      return 'deliver';
    }
    if (r.kind === 'stored') {
      ctx.lead?.done('stored');
      ctx.lead = undefined;
      ctx.stored = true;
      ctx.obj = r.obj;
      ctx.outcome = r.revalidated ? 'revalidated' : 'miss';
      return 'deliver';
    }
    // the origin failed while we hold a stale copy: RFC 5861 stale-if-error
    if (stale && r.status >= 500 && staleIfErrorAllowed(stale, ctx.reqCc, d.now())) {
      ctx.lead?.done('stored');
      ctx.lead = undefined;
      ctx.detail = 'stale-if-error';
      ctx.outcome = 'stale';
      if (!Buffer.isBuffer(r.response.body)) r.response.body.resume();
      return 'deliver';
    }
    ctx.lead?.done('uncacheable');
    ctx.lead = undefined;
    if (r.reason !== 'too-large' && r.reason !== 'no-freshness') d.markHitForPass(ctx.key);
    ctx.detail = r.reason;
    ctx.obj = undefined;
    ctx.direct = r.response;
    ctx.outcome = 'miss';
    return 'deliver';
  },

  async pass(ctx, d) {
    if (ctx.outcome === 'pending') ctx.outcome = 'pass';
    try {
      await d.pass(ctx);
    } catch (e) {
      return failedFetch(ctx, d, e);
    }
    return ctx.synth ? 'synth' : 'deliver';
  },

  deliver(ctx, d) {
    d.deliver(ctx);
    return 'done';
  },

  synth(ctx, d) {
    if (ctx.outcome === 'pending') ctx.outcome = 'synth';
    d.synth(ctx);
    return 'done';
  },
};

/**
 * Runs the table from `start` to done. States that answer synchronously (a hit) run without
 * a promise; the first asynchronous state hands the rest to an async loop.
 */
export function runFsm(ctx: EdgeCtx, d: FsmDeps, start: StateName = 'recv'): Promise<void> | undefined {
  let s: StateName = start;
  const debug = d.logger.isLevelEnabled('debug');
  for (let step = 0; s !== 'done'; step++) {
    if (step >= MAX_STEPS && s !== 'synth') {
      ctx.synth = { status: 503, code: edgeErrors.ERR_EDGE_FSM_LOOP.code };
      s = 'synth';
    }
    const from: StateName = s;
    const r = STATES[from](ctx, d);
    if (typeof r !== 'string') return continueAsync(ctx, d, from, r, step + 1, debug);
    if (debug) d.logger.debug({ key: ctx.key, from, to: r }, 'edge fsm');
    s = r;
  }
  return undefined;
}

async function continueAsync(
  ctx: EdgeCtx,
  d: FsmDeps,
  from: StateName,
  pending: Promise<StateName>,
  step: number,
  debug: boolean,
): Promise<void> {
  let s = await pending;
  if (debug) d.logger.debug({ key: ctx.key, from, to: s }, 'edge fsm');
  for (; s !== 'done'; step++) {
    if (step >= MAX_STEPS && s !== 'synth') {
      ctx.synth = { status: 503, code: edgeErrors.ERR_EDGE_FSM_LOOP.code };
      s = 'synth';
    }
    const f: StateName = s;
    const r = STATES[f](ctx, d);
    s = typeof r === 'string' ? r : await r;
    if (debug) d.logger.debug({ key: ctx.key, from: f, to: s }, 'edge fsm');
  }
}
