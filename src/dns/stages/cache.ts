import type { DnsContext, DnsStage } from '../chain.ts';
import { ReplyCache } from '../reply-cache.ts';
import { RCODE } from '../wire/query.ts';
import { patchReply } from '../wire/reply.ts';

/**
 * Longest a cached reply is reused, even if nothing changes: bounds how long a random
 * (non-sticky) steering choice is repeated to everyone asking from the same client.
 */
export const CACHE_MAX_AGE_MS = 1000;

/** Everything the whole reply depends on, besides the steering state version. */
export function cacheKey(ctx: DnsContext): string {
  const q = ctx.query!;
  const o = q.opt;
  const e = ctx.ecs;
  // the reply echoes OPT (with DO) and ECS (family, source prefix, address) as asked
  const edns = o === null ? '-' : e === null ? (o.do ? 'D' : 'O') : `${o.do ? 'D' : 'O'}${e.family}/${e.sourcePrefix}`;
  return `${q.name}|${q.qtype}|${q.qclass}|${edns}|${ctx.client}`;
}

/**
 * `cache`: encoded replies keyed by (name, type, EDNS shape, client subnet), valid while
 * the steering state version is unchanged and for at most CACHE_MAX_AGE_MS. A hit is the
 * stored bytes with the id, RD/CD bits and the question's letter case patched in.
 */
export const cacheStage: DnsStage = {
  name: 'cache',
  create({ config, clock, state, stats }) {
    if (config.cacheSize === 0) return null;
    const now = () => clock.now();
    const cache = new ReplyCache(config.cacheSize, now);
    return (ctx, next) => {
      const q = ctx.query!;
      if (q.odd) return next(ctx);
      const version = state.version ?? 0;
      const key = cacheKey(ctx);
      const hit = cache.get(key, version);
      if (hit !== undefined && hit.nameLength === q.nameLength) {
        stats.cacheHits++;
        ctx.reply = patchReply(hit.bytes, ctx.raw, q.nameLength);
        ctx.rcode = hit.rcode;
        return;
      }
      stats.cacheMisses++;
      next(ctx);
      const reply = ctx.reply;
      if (reply === null || ctx.rcode === RCODE.SERVFAIL || ctx.rcode < 0) return;
      cache.set(key, {
        bytes: reply,
        rcode: ctx.rcode,
        nameLength: q.nameLength,
        version,
        expires: now() + CACHE_MAX_AGE_MS,
      });
    };
  },
};
