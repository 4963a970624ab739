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

/** EDNS COOKIE (RFC 7873): an option this server ignores, so its value never changes a reply. */
export const OPTION_COOKIE = 10;

/**
 * Where the value of the query's COOKIE option starts, or -1. Only the layout a stub or a
 * resolver sends is looked at — one question, no answers or authority, one OPT record right
 * after the question and last in the packet; anything else keeps its cookie in the key.
 * Why: `dig` sends a fresh random client cookie on every run, so a loop of dig made every
 * query a new key, each stored once and never hit again, until the cache held cacheSize
 * of them (issue 24: ~3 MB a minute for as long as the loop ran).
 */
export function cookieAt(raw: Buffer, nameEnd: number): number {
  const n = raw.length;
  const p = nameEnd + 4; // past QTYPE and QCLASS
  // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 1; the OPT's root name and TYPE 41
  if (raw[5] !== 1 || raw[11] !== 1 || raw[4]! | raw[6]! | raw[7]! | raw[8]! | raw[9]! | raw[10]!) return -1;
  if (p + 11 > n || raw[p] !== 0 || raw[p + 1] !== 0 || raw[p + 2] !== 41) return -1;
  if (p + 11 + raw.readUInt16BE(p + 9) !== n) return -1;
  for (let o = p + 11; o + 4 <= n; o += 4 + raw.readUInt16BE(o + 2)) {
    if (o + 4 + raw.readUInt16BE(o + 2) > n) return -1;
    if (raw.readUInt16BE(o) === OPTION_COOKIE) return o + 4;
  }
  return -1;
}

/**
 * The bytes of the packet the key leaves out: the COOKIE option's value, as [from, to), or
 * [n, n) when there is none. Packed in one number (from * 65536 + to) so the hot path
 * allocates nothing; a UDP or TCP query is at most 65535 bytes.
 */
export function keySkip(raw: Buffer, nameEnd: number): number {
  const c = cookieAt(raw, nameEnd);
  const n = raw.length;
  return c < 0 ? n * 65536 + n : c * 65536 + c + raw.readUInt16BE(c - 2);
}

const NO_SKIP = -1;
const skipFrom = (raw: Buffer, skip: number) => (skip === NO_SKIP ? raw.length : Math.floor(skip / 65536));
const skipTo = (raw: Buffer, skip: number) => (skip === NO_SKIP ? raw.length : skip % 65536);

/**
 * The reply depends on the query's bytes after the id, with the name's letter case, the RD
 * and CD bits and the COOKIE value set aside (a hit patches the first two in from its own
 * query; the reply carries no cookie), and on the source address when there is no client
 * subnet. Those bytes are the key: a hit needs no parsing beyond finding the cookie.
 * This is the FNV-1a state over them (unfolded, so the address can be mixed in).
 */
export function hashPacket(raw: Buffer, nameEnd: number, skip = NO_SKIP): number {
  const from = skipFrom(raw, skip);
  const to = skipTo(raw, skip);
  let h = Math.imul(0x811c9dc5 ^ (raw[2]! & FLAGS1_KEY_MASK), FNV_PRIME);
  h = Math.imul(h ^ (raw[3]! & FLAGS2_KEY_MASK), FNV_PRIME);
  for (let i = 4; i < 12; i++) h = Math.imul(h ^ raw[i]!, FNV_PRIME);
  for (let i = 12; i < nameEnd; i++) h = Math.imul(h ^ lower(raw[i]!), FNV_PRIME);
  for (let i = nameEnd; i < from; i++) h = Math.imul(h ^ raw[i]!, FNV_PRIME);
  for (let i = to, n = raw.length; i < n; i++) h = Math.imul(h ^ raw[i]!, FNV_PRIME);
  return h;
}

function hashAddress(h: number, address: string): number {
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Whether `key` is this packet's key (plus `address` when given). */
export function keyMatches(key: Buffer, raw: Buffer, nameEnd: number, address: string | null, skip = NO_SKIP): boolean {
  const n = raw.length;
  const from = skipFrom(raw, skip);
  const to = skipTo(raw, skip);
  const cut = to - from;
  if (key.length !== n - 2 - cut + (address === null ? 0 : address.length)) return false;
  if (key[0] !== (raw[2]! & FLAGS1_KEY_MASK) || key[1] !== (raw[3]! & FLAGS2_KEY_MASK)) return false;
  for (let i = 4; i < 12; i++) if (key[i - 2] !== raw[i]) return false;
  for (let i = 12; i < nameEnd; i++) if (key[i - 2] !== lower(raw[i]!)) return false;
  for (let i = nameEnd; i < from; i++) if (key[i - 2] !== raw[i]) return false;
  for (let i = to; i < n; i++) if (key[i - 2 - cut] !== raw[i]) return false;
  if (address !== null)
    for (let i = 0, o = n - 2 - cut; i < address.length; i++) if (key[o + i] !== address.charCodeAt(i)) return false;
  return true;
}

/** The key of a packet (what keyMatches compares against), plus `address` when given. */
export function writeKey(raw: Buffer, nameEnd: number, address: string | null, skip = NO_SKIP): Buffer {
  const n = raw.length;
  const from = skipFrom(raw, skip);
  const to = skipTo(raw, skip);
  const cut = to - from;
  const key = Buffer.allocUnsafe(n - 2 - cut + (address === null ? 0 : address.length));
  key[0] = raw[2]! & FLAGS1_KEY_MASK;
  key[1] = raw[3]! & FLAGS2_KEY_MASK;
  for (let i = 4; i < from; i++) key[i - 2] = i >= 12 && i < nameEnd ? lower(raw[i]!) : raw[i]!;
  for (let i = to; i < n; i++) key[i - 2 - cut] = raw[i]!;
  if (address !== null) key.write(address, n - 2 - cut, 'latin1');
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
      const skip = keySkip(raw, nameEnd);
      const h = hashPacket(raw, nameEnd, skip);
      let address: string | null = null;
      let e = cache.get(fold30(h));
      if (e?.byAddress && keyMatches(e.key, raw, nameEnd, null, skip)) {
        address = ctx.address;
        e = cache.get(fold30(hashAddress(h, address)));
      }
      if (
        e !== undefined &&
        !e.byAddress &&
        e.version === version &&
        e.expires > ctx.now &&
        keyMatches(e.key, raw, nameEnd, address, skip)
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
      // the lean stage answers only plain names (never odd) and leaves query null
      if (reply === null || (!ctx.lean && (q === null || q.odd)) || ctx.rejected !== null || ctx.ttl === 0) return;
      if (ctx.rcode < 0 || ctx.rcode === RCODE.SERVFAIL || (reply[2]! & 0x02) !== 0 /* TC */) return;
      const age = ctx.ttl < 0 ? CACHE_DEFAULT_AGE_MS : Math.min(ctx.ttl * 1000, CACHE_MAX_AGE_MS);
      const byAddress = ctx.ecsSource <= 0;
      const entry: CachedReply = {
        key: writeKey(raw, nameEnd, byAddress ? ctx.address : null, skip),
        bytes: reply,
        rcode: ctx.rcode,
        qtype: ctx.qtype,
        ttl: ctx.ttl,
        version,
        expires: ctx.now + age,
        byAddress: false,
      };
      if (!byAddress) return cache.set(fold30(h), entry);
      const marker = cache.get(fold30(h));
      if (!(marker?.byAddress && keyMatches(marker.key, raw, nameEnd, null, skip)))
        cache.set(fold30(h), {
          key: writeKey(raw, nameEnd, null, skip),
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
