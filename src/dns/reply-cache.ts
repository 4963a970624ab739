/** An encoded reply kept for reuse; patched per query (id, RD/CD bits, question case). */
export interface CachedReply {
  /** The key bytes, to tell hash collisions apart. */
  key: Buffer;
  bytes: Buffer;
  /** Full rcode and query type, for metrics. */
  rcode: number;
  qtype: number;
  /** The reply's smallest record TTL (s), -1 when it has no records. */
  ttl: number;
  /** Steering state version the reply was computed at. */
  version: number;
  /** Monotonic ms after which the entry is stale. */
  expires: number;
  /**
   * A marker, not a reply: packets with these bytes carry no client subnet, so their reply
   * depends on the source address too and is stored under the key with the address added.
   */
  byAddress: boolean;
}

/** FNV-1a over key bytes, folded to 30 bits so Map keys stay small integers. */
export function hashKey(key: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return fold30(h);
}

/** Folds a 32-bit FNV state to the 30-bit Map key hashKey returns. */
export const fold30 = (h: number): number => (h ^ (h >>> 30)) & 0x3fffffff;

/**
 * A bounded two-generation cache: lookups hit the young map, then the old one (promoting);
 * when the young map fills, it becomes the old one. O(1), no per-entry bookkeeping, and
 * roughly LRU, which is all a hot-path reply cache needs. Entries are found by hash only:
 * the caller compares the key bytes, so a collision is a miss, never a wrong reply.
 */
export class ReplyCache {
  private young = new Map<number, CachedReply>();
  private old = new Map<number, CachedReply>();
  private readonly half: number;

  constructor(max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  /** The entry stored under `hash`, if any (the caller checks key, version and freshness). */
  get(hash: number): CachedReply | undefined {
    const e = this.young.get(hash);
    if (e !== undefined) return e;
    const o = this.old.get(hash);
    if (o === undefined) return undefined;
    this.old.delete(hash);
    this.put(hash, o);
    return o;
  }

  /** Stores an entry under its key's hash (replacing whatever had that hash). */
  set(hash: number, e: CachedReply): void {
    this.old.delete(hash);
    this.put(hash, e);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private put(hash: number, e: CachedReply): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(hash, e);
  }
}
