import type { DnsStage } from '../chain.ts';
import { type CachedReply, fold30, ReplyCache } from '../reply-cache.ts';
import { RCODE } from '../wire/query.ts';
import { patchReply } from '../wire/reply.ts';

/**
 * How long a cached reply is reused while the steering state doesn't change: its smallest
 * record TTL (a resolver would repeat it that long anyway), at most CACHE_MAX_AGE_MS, or
 * CACHE_DEFAULT_AGE_MS for replies without records (REFUSED, NXDOMAIN). Health and
 * load changes bump the state version and invalidate at once; the age bounds only how long
 * a random (non-sticky) steering choice is repeated to the same client subnet.
 */
export const CACHE_MAX_AGE_MS = 300_000;
export const CACHE_DEFAULT_AGE_MS = 30_000;

const FNV_PRIME = 0x01000193;
/** The flag bits a hit copies from its own query (RD, CD): masked out of the key. */
const FLAGS1_KEY_MASK = 0xfe;
const FLAGS2_KEY_MASK = 0xef;
const NO_BYTES = Buffer.alloc(0);

/** Lowercases an ASCII letter; label length bytes are < 64 and never change. */
const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

/** End of the question name (past its root label), or -1 when it is not plain labels inside the packet. */
export function questionNameEnd(raw: Buffer): number {
  const n = raw.length;
  let p = 12;
  while (p < n) {
    const len = raw[p]!;
    if (len === 0) return p + 1;
    if (len > 63) return -1;
    p += len + 1;
  }
  return -1;
}

/**
 * The reply depends on the query's bytes after the id, with the name's letter case and the
 * RD and CD bits set aside (a hit patches those in from its own query), and on the source
 * address when there is no client subnet. Those bytes are the key: a hit needs no parsing.
 * This is the FNV-1a state over them (unfolded, so the address can be mixed in).
 */
export function hashPacket(raw: Buffer, nameEnd: number): number {
  let h = Math.imul(0x811c9dc5 ^ (raw[2]! & FLAGS1_KEY_MASK), FNV_PRIME);
  h = Math.imul(h ^ (raw[3]! & FLAGS2_KEY_MASK), FNV_PRIME);
  for (let i = 4; i < 12; i++) h = Math.imul(h ^ raw[i]!, FNV_PRIME);
  for (let i = 12; i < nameEnd; i++) h = Math.imul(h ^ lower(raw[i]!), FNV_PRIME);
  for (let i = nameEnd, n = raw.length; i < n; i++) h = Math.imul(h ^ raw[i]!, FNV_PRIME);
  return h;
}

function hashAddress(h: number, address: string): number {
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Whether `key` is this packet's key (plus `address` when given). */
export function keyMatches(key: Buffer, raw: Buffer, nameEnd: number, address: string | null): boolean {
  const n = raw.length;
  if (key.length !== n - 2 + (address === null ? 0 : address.length)) return false;
  if (key[0] !== (raw[2]! & FLAGS1_KEY_MASK) || key[1] !== (raw[3]! & FLAGS2_KEY_MASK)) return false;
  for (let i = 4; i < 12; i++) if (key[i - 2] !== raw[i]) return false;
  for (let i = 12; i < nameEnd; i++) if (key[i - 2] !== lower(raw[i]!)) return false;
  for (let i = nameEnd; i < n; i++) if (key[i - 2] !== raw[i]) return false;
  if (address !== null)
    for (let i = 0, o = n - 2; i < address.length; i++) if (key[o + i] !== address.charCodeAt(i)) return false;
  return true;
}

function writeKey(raw: Buffer, nameEnd: number, address: string | null): Buffer {
  const n = raw.length;
  const key = Buffer.allocUnsafe(n - 2 + (address === null ? 0 : address.length));
  key[0] = raw[2]! & FLAGS1_KEY_MASK;
  key[1] = raw[3]! & FLAGS2_KEY_MASK;
  for (let i = 4; i < n; i++) key[i - 2] = i >= 12 && i < nameEnd ? lower(raw[i]!) : raw[i]!;
  if (address !== null) key.write(address, n - 2, 'latin1');
  return key;
}

/**
 * `cache`: whole encoded replies, keyed by the query's bytes (see hashPacket) per transport,
 * valid while the steering state version is unchanged and for the reply's TTL (at most
 * CACHE_MAX_AGE_MS). Right after rrl, so a hit skips parsing and every later stage: it is
 * the stored bytes with the id, RD/CD bits and the question's letter case patched in.
 * Replies that depend on the source address (no client subnet, or a /0 one) are stored
 * under the key plus the address, behind a marker under the bare key. Nothing truncated,
 * rejected or SERVFAIL is stored, so the metrics of those stay per query.
 */
export const cacheStage: DnsStage = {
  name: 'cache',
  create({ config, state, stats }) {
    if (config.cacheSize === 0) return null;
    const udp = new ReplyCache(config.cacheSize);
    // TCP is the fallback path: a smaller cache of its own (its replies are never truncated)
    const tcp = new ReplyCache(Math.max(16, config.cacheSize >> 4));
    return (ctx, next) => {
      const raw = ctx.raw;
      // only what could be a query: a header with QR clear and a plain question name
      const nameEnd = raw.length > 12 && (raw[2]! & 0x80) === 0 ? questionNameEnd(raw) : -1;
      if (nameEnd < 0) return next(ctx);
      const cache = ctx.transport === 'udp' ? udp : tcp;
      const version = state.version ?? 0;
      const h = hashPacket(raw, nameEnd);
      let address: string | null = null;
      let e = cache.get(fold30(h));
      if (e?.byAddress && keyMatches(e.key, raw, nameEnd, null)) {
        address = ctx.address;
        e = cache.get(fold30(hashAddress(h, address)));
      }
      if (
        e !== undefined &&
        !e.byAddress &&
        e.version === version &&
        e.expires > ctx.now &&
        keyMatches(e.key, raw, nameEnd, address)
      ) {
        stats.cacheHits++;
        ctx.reply = patchReply(e.bytes, raw, nameEnd - 12);
        ctx.rcode = e.rcode;
        ctx.qtype = e.qtype;
        // what is left of it: a resolver (or DoH's Cache-Control) must not keep it longer than we do
        ctx.ttl = e.ttl < 0 ? -1 : Math.max(0, Math.min(e.ttl, Math.floor((e.expires - ctx.now) / 1000)));
        return;
      }
      stats.cacheMisses++;
      next(ctx);
      const reply = ctx.reply;
      const q = ctx.query;
      if (reply === null || q === null || q.odd || ctx.rejected !== null || ctx.ttl === 0) return;
      if (ctx.rcode < 0 || ctx.rcode === RCODE.SERVFAIL || (reply[2]! & 0x02) !== 0 /* TC */) return;
      const age = ctx.ttl < 0 ? CACHE_DEFAULT_AGE_MS : Math.min(ctx.ttl * 1000, CACHE_MAX_AGE_MS);
      const byAddress = ctx.ecs === null || ctx.ecs.sourcePrefix === 0;
      const entry: CachedReply = {
        key: writeKey(raw, nameEnd, byAddress ? ctx.address : null),
        bytes: reply,
        rcode: ctx.rcode,
        qtype: q.qtype,
        ttl: ctx.ttl,
        version,
        expires: ctx.now + age,
        byAddress: false,
      };
      if (!byAddress) return cache.set(fold30(h), entry);
      const marker = cache.get(fold30(h));
      if (!(marker?.byAddress && keyMatches(marker.key, raw, nameEnd, null)))
        cache.set(fold30(h), {
          key: writeKey(raw, nameEnd, null),
          bytes: NO_BYTES,
          rcode: 0,
          qtype: 0,
          ttl: -1,
          version: 0,
          expires: Number.POSITIVE_INFINITY,
          byAddress: true,
        });
      cache.set(fold30(hashAddress(h, ctx.address)), entry);
    };
  },
};
