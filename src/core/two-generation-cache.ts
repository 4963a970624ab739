/**
 * A bounded two-generation cache: lookups hit the young map, then the old one (promoting);
 * when the young map fills, it becomes the old one. O(1), no per-entry bookkeeping, and
 * roughly LRU — all a hot-path cache needs (DNS replies, HTTPDNS steering decisions).
 * Holds at most `max` entries.
 */
export class TwoGenerationCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  constructor(max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  get(key: K): V | undefined {
    const e = this.young.get(key);
    if (e !== undefined) return e;
    const o = this.old.get(key);
    if (o === undefined) return undefined;
    this.old.delete(key);
    this.put(key, o);
    return o;
  }

  /** Stores an entry (replacing whatever the key had). */
  set(key: K, value: V): void {
    this.old.delete(key);
    this.put(key, value);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  private put(key: K, value: V): void {
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, value);
  }
}
