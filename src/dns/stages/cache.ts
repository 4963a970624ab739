import type { DnsContext, DnsStage } from '../chain.ts';
import { hashKey, ReplyCache } from '../reply-cache.ts';
import { RCODE } from '../wire/query.ts';
import { patchReply } from '../wire/reply.ts';

/**
 * How long a cached reply is reused while the steering state doesn't change: its smallest
 * record TTL (a resolver would repeat it that long anyway), at most CACHE_MAX_AGE_MS, or
 * CACHE_DEFAULT_AGE_MS for replies without records (REFUSED, FORMERR from ECS). Health and
 * load changes bump the state version and invalidate at once; the age bounds only how long
 * a random (non-sticky) steering choice is repeated to the same client subnet.
 */
export const CACHE_MAX_AGE_MS = 300_000;
export const CACHE_DEFAULT_AGE_MS = 30_000;

/** Reused to assemble keys: nothing is allocated for a lookup. */
const keyScratch = Buffer.allocUnsafe(1024);

/**
 * Writes everything the whole reply depends on, besides the steering state version, into
 * `out` and returns its length: the question (name lowercased), the EDNS shape (OPT, DO),
 * the ECS option as sent (the reply echoes it), and the source address when there is no
 * ECS subnet (then it is what steering sees). Built from the packet's bytes.
 */
export function writeCacheKey(ctx: DnsContext, out: Buffer = keyScratch): number {
  const q = ctx.query!;
  const raw = ctx.raw;
  const k = out;
  let n = 0;
  const nameEnd = 12 + q.nameLength;
  for (let i = 12; i < nameEnd; i++) {
    const c = raw[i]!;
    // label length bytes are < 64, so only letters change
    k[n++] = c >= 65 && c <= 90 ? c + 32 : c;
  }
  for (let i = nameEnd; i < q.questionEnd; i++) k[n++] = raw[i]!; // type, class: as they are
  k[n++] = q.opt === null ? 0 : q.opt.do ? 2 : 1;
  const e = ctx.ecs;
  if (e === null) k[n++] = 255;
  else {
    k[n++] = e.family;
    k[n++] = e.sourcePrefix;
    for (let i = e.addrStart, end = e.addrStart + e.addrLength; i < end; i++) k[n++] = e.buf[i]!;
  }
  if (e === null || e.sourcePrefix === 0) n += k.write(ctx.address, n, 'latin1');
  return n;
}

/**
 * `cache`: encoded replies keyed by (name, type, EDNS shape, ECS or source), valid while
 * the steering state version is unchanged and for the reply's TTL (at most CACHE_MAX_AGE_MS). A hit is the
 * stored bytes with the id, RD/CD bits and the question's letter case patched in.
 */
export const cacheStage: DnsStage = {
  name: 'cache',
  create({ config, state, stats }) {
    if (config.cacheSize === 0) return null;
    const cache = new ReplyCache(config.cacheSize);
    return (ctx, next) => {
      const q = ctx.query!;
      if (q.odd) return next(ctx);
      const version = state.version ?? 0;
      const klen = writeCacheKey(ctx);
      const hash = hashKey(keyScratch, klen);
      const hit = cache.get(hash, keyScratch, klen, version, ctx.now);
      if (hit !== undefined && hit.nameLength === q.nameLength) {
        stats.cacheHits++;
        ctx.reply = patchReply(hit.bytes, ctx.raw, q.nameLength);
        ctx.rcode = hit.rcode;
        return;
      }
      stats.cacheMisses++;
      // keep the key: the scratch buffer is shared by every server in the process
      const key = Buffer.from(keyScratch.subarray(0, klen));
      next(ctx);
      const reply = ctx.reply;
      if (reply === null || ctx.rcode === RCODE.SERVFAIL || ctx.rcode < 0 || ctx.ttl === 0) return;
      const age = ctx.ttl < 0 ? CACHE_DEFAULT_AGE_MS : Math.min(ctx.ttl * 1000, CACHE_MAX_AGE_MS);
      cache.set(hash, {
        key,
        bytes: reply,
        rcode: ctx.rcode,
        nameLength: q.nameLength,
        version,
        expires: ctx.now + age,
      });
    };
  },
};
