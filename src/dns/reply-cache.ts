/** An encoded reply kept for reuse; patched per query (id, RD/CD bits, question case). */
export interface CachedReply {
  /** The key bytes, to tell hash collisions apart. */
  key: Buffer;
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

/** FNV-1a over key bytes, folded to 30 bits so Map keys stay small integers. */
export function hashKey(key: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

function sameKey(a: Buffer, b: Buffer, length: number): boolean {
  if (a.length !== length) return false;
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A bounded two-generation cache: lookups hit the young map, then the old one (promoting);
 * when the young map fills, it becomes the old one. O(1), no per-entry bookkeeping, and
 * roughly LRU, which is all a hot-path reply cache needs. Keys are byte strings looked up
 * by hash (no string is built per query) and compared in full, so collisions only miss.
 */
export class ReplyCache {
  private young = new Map<number, CachedReply>();
  private old = new Map<number, CachedReply>();
  private readonly half: number;

  constructor(max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  /** The entry for key[0, length) if it was made at this state version and is still fresh at `now`. */
  get(hash: number, key: Buffer, length: number, version: number, now: number): CachedReply | undefined {
    let e = this.young.get(hash);
    if (e === undefined) {
      e = this.old.get(hash);
      if (e === undefined) return undefined;
      this.old.delete(hash);
      this.put(hash, e);
    }
    if (e.version !== version || e.expires <= now || !sameKey(e.key, key, length)) return undefined;
    return e;
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
