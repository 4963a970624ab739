import type { DnsContext, DnsStage } from '../chain.ts';
import { ReplyCache } from '../reply-cache.ts';
import { RCODE } from '../wire/query.ts';
import { patchReply } from '../wire/reply.ts';

/**
 * Longest a cached reply is reused while the steering state doesn't change. Health and
 * load changes bump the state version and invalidate at once; this bounds only how long a
 * random (non-sticky) steering choice is repeated to the same client subnet, which a
 * resolver caching our answer (TTL 30–600 s) would repeat anyway.
 */
export const CACHE_MAX_AGE_MS = 30_000;

/** Reused to assemble keys: one string allocation per lookup. */
const keyScratch = Buffer.allocUnsafe(1024);

/**
 * Everything the whole reply depends on, besides the steering state version, as one
 * latin1 string: the question (name lowercased), the EDNS shape (OPT, DO), the ECS option
 * as sent (the reply echoes it), and the source address when there is no ECS subnet (then
 * it is what steering sees). Built from bytes: no ECS text, no client string on a hit.
 */
export function cacheKey(ctx: DnsContext): string {
  const q = ctx.query!;
  const raw = ctx.raw;
  const k = keyScratch;
  let n = 0;
  const nameEnd = 12 + q.nameLength;
  for (let i = 12; i < nameEnd; i++) {
    const c = raw[i]!;
    // label length bytes are < 64, so only letters change
    k[n++] = c >= 65 && c <= 90 ? c + 32 : c;
  }
  n += raw.copy(k, n, nameEnd, q.questionEnd); // type, class: as they are
  k[n++] = q.opt === null ? 0 : q.opt.do ? 2 : 1;
  const e = ctx.ecs;
  if (e === null) k[n++] = 255;
  else {
    k[n++] = e.family;
    k[n++] = e.sourcePrefix;
    n += e.buf.copy(k, n, e.addrStart, e.addrStart + e.addrLength);
  }
  if (e === null || e.sourcePrefix === 0) n += k.write(ctx.address, n, 'latin1');
  return k.toString('latin1', 0, n);
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
