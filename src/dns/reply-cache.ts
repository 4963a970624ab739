/** An encoded reply kept for reuse; patched per query (id, RD/CD bits, question case). */
export interface CachedReply {
  bytes: Buffer;
  /** Full rcode, for metrics. */
  rcode: number;
  /** Question name length on the wire: a hit must have the same, or it is a miss. */
  nameLength: number;
  /** Steering state version the reply was computed at. */
  version: number;
  /** Monotonic ms after which the entry is stale. */
  expires: number;
}

/**
 * A bounded two-generation cache: lookups hit the young map, then the old one (promoting);
 * when the young map fills, it becomes the old one. O(1), no per-entry bookkeeping, and
 * roughly LRU, which is all a hot-path reply cache needs.
 */
export class ReplyCache {
  private young = new Map<string, CachedReply>();
  private old = new Map<string, CachedReply>();
  private readonly half: number;

  constructor(
    max: number,
    private readonly now: () => number,
  ) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  get(key: string, version: number): CachedReply | undefined {
    let e = this.young.get(key);
    if (!e) {
      e = this.old.get(key);
      if (!e) return undefined;
      this.old.delete(key);
      this.put(key, e);
    }
    if (e.version !== version || e.expires <= this.now()) return undefined;
    return e;
  }

  set(key: string, e: CachedReply): void {
    this.put(key, e);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private put(key: string, e: CachedReply): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, e);
  }
}
