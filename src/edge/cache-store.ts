/**
 * The object store behind the state machine: a memory tier (LRU by bytes) in front of an
 * optional disk tier (the ring store). Keeps the indexes lookups and purges need across both
 * tiers: primary key → variant ids, and surrogate key → ids.
 */
import { LRUCache } from 'lru-cache';
import { keyUrl } from './cache-key.ts';
import { type CachedObject, materialize, metaOf, type ObjectMeta } from './cached-object.ts';
import type { RingStore } from './ring-store.ts';

/** Per-object bookkeeping bytes counted against the memory budget besides the body. */
const OVERHEAD = 512;

/** Counters of the store, read by metrics and the Zipf bench. */
export interface StoreStats {
  memHits: number;
  diskHits: number;
  misses: number;
  memEvictions: number;
}

export interface CacheStoreOptions {
  memoryBytes: number;
  disk?: RingStore;
  /** Bodies at least this large and of a text-like type are compressed on the fly. */
  minCompressBytes?: number;
}

/** Memory + disk tiers with the indexes purge needs. */
export class CacheStore {
  private readonly mem: LRUCache<string, CachedObject>;
  private readonly disk: RingStore | undefined;
  private readonly byKey = new Map<string, Set<string>>();
  private readonly bySurrogate = new Map<string, Set<string>>();
  /** Surrogate keys of every indexed id (disk-only objects included). */
  private readonly tagsOf = new Map<string, readonly string[]>();
  private readonly minCompress: number;
  readonly stats: StoreStats = { memHits: 0, diskHits: 0, misses: 0, memEvictions: 0 };

  constructor(opts: CacheStoreOptions) {
    this.disk = opts.disk;
    this.minCompress = opts.minCompressBytes ?? 1024;
    this.mem = new LRUCache<string, CachedObject>({
      maxSize: Math.max(1, opts.memoryBytes),
      sizeCalculation: (o) => o.body.length + OVERHEAD,
      dispose: (o, id, reason) => {
        if (reason === 'evict') this.stats.memEvictions++;
        if (reason !== 'set' && !this.disk?.has(id)) this.unindex(id);
        void o;
      },
    });
    if (this.disk) {
      this.disk.onOverwrite = (id) => {
        if (!this.mem.has(id)) this.unindex(id);
      };
      for (const id of [...this.disk.keys()]) {
        const meta = this.disk.meta(id);
        if (!meta) continue;
        try {
          const m = JSON.parse(meta.toString()) as ObjectMeta;
          this.index(id, m.key, m.surrogateKeys);
        } catch {
          this.disk.delete(id);
        }
      }
    }
  }

  /** Every stored variant of a primary key (promoting disk hits to memory). */
  variants(key: string): CachedObject[] {
    const ids = this.byKey.get(key);
    if (!ids) {
      this.stats.misses++;
      return [];
    }
    const out: CachedObject[] = [];
    for (const id of ids) {
      const o = this.getById(id);
      if (o) out.push(o);
    }
    return out;
  }

  /**
   * Every stored variant of a primary key, for the hit paths: at once when they are all in
   * memory, else a promise that reads the disk-only ones without blocking the loop (and
   * promotes them). `count: false` leaves the stats alone (the lean path looks before it knows
   * it will serve; it counts with countMemoryHits when it does).
   */
  lookup(key: string, count = true): CachedObject[] | Promise<CachedObject[]> {
    const ids = this.byKey.get(key);
    if (!ids) {
      if (count) this.stats.misses++;
      return [];
    }
    const out: CachedObject[] = [];
    let missing: string[] | undefined;
    for (const id of ids) {
      const o = this.mem.get(id);
      if (o) out.push(o);
      else if (this.disk) {
        missing ??= [];
        missing.push(id);
      }
    }
    if (count) this.stats.memHits += out.length;
    if (!missing) return out;
    return this.loadAll(missing, out);
  }

  /** Counts memory-tier reads the lean path served (see lookup). */
  countMemoryHits(n: number): void {
    this.stats.memHits += n;
  }

  private async loadAll(ids: string[], out: CachedObject[]): Promise<CachedObject[]> {
    const disk = this.disk!;
    const recs = await Promise.all(ids.map((id) => disk.getAsync(id)));
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      // stored again while the read ran: the memory copy is the newer one
      const now = this.mem.get(id);
      if (now) {
        out.push(now);
        continue;
      }
      const rec = recs[i];
      if (!rec) {
        if (!disk.has(id)) this.unindex(id);
        continue;
      }
      let meta: ObjectMeta;
      try {
        meta = JSON.parse(rec.meta.toString()) as ObjectMeta;
      } catch {
        disk.delete(id);
        this.unindex(id);
        continue;
      }
      // purged (or replaced) while the read ran
      if (!this.tagsOf.has(id)) continue;
      this.stats.diskHits++;
      const o = materialize(meta, Buffer.from(rec.body), this.minCompress);
      this.mem.set(id, o);
      out.push(o);
    }
    return out;
  }

  /** One object by id, from memory or disk. */
  getById(id: string): CachedObject | undefined {
    const m = this.mem.get(id);
    if (m) {
      this.stats.memHits++;
      return m;
    }
    if (!this.disk) return undefined;
    const rec = this.disk.get(id);
    if (!rec) {
      this.unindex(id);
      return undefined;
    }
    let meta: ObjectMeta;
    try {
      meta = JSON.parse(rec.meta.toString()) as ObjectMeta;
    } catch {
      this.disk.delete(id);
      this.unindex(id);
      return undefined;
    }
    this.stats.diskHits++;
    const o = materialize(meta, Buffer.from(rec.body), this.minCompress);
    this.mem.set(id, o);
    return o;
  }

  /** Stores (or replaces) an object in both tiers. */
  put(o: CachedObject): void {
    this.index(o.id, o.key, o.surrogateKeys);
    this.mem.set(o.id, o);
    if (this.disk) {
      const ok = this.disk.put(o.id, Buffer.from(JSON.stringify(metaOf(o))), o.body);
      // too large for the ring: memory only; an older disk copy must not come back
      if (!ok) this.disk.delete(o.id);
    }
  }

  /** Removes one object from both tiers. */
  remove(id: string): void {
    this.mem.delete(id);
    this.disk?.delete(id);
    this.unindex(id);
  }

  /** Hard (remove) or soft (mark stale) purge of every variant of a primary key. */
  purgeKey(key: string, soft: boolean): number {
    return this.purgeIds([...(this.byKey.get(key) ?? [])], soft);
  }

  /** Purges every object whose URL ("host/path?q") starts with prefix. */
  purgePrefix(urlPrefix: string, soft: boolean): number {
    const ids: string[] = [];
    for (const [key, set] of this.byKey) if (keyUrl(key).startsWith(urlPrefix)) ids.push(...set);
    return this.purgeIds(ids, soft);
  }

  /** Purges every object tagged with a surrogate key. */
  purgeSurrogate(tag: string, soft: boolean): number {
    return this.purgeIds([...(this.bySurrogate.get(tag) ?? [])], soft);
  }

  /** Number of indexed objects (both tiers). */
  get size(): number {
    return this.tagsOf.size;
  }

  /** Bytes held by the memory tier. */
  get memoryBytes(): number {
    return this.mem.calculatedSize;
  }

  private purgeIds(ids: string[], soft: boolean): number {
    let n = 0;
    for (const id of ids) {
      if (!soft) {
        this.remove(id);
        n++;
        continue;
      }
      const o = this.getById(id);
      if (!o) continue;
      o.invalidated = true;
      this.put(o);
      n++;
    }
    return n;
  }

  private index(id: string, key: string, tags: readonly string[]): void {
    if (this.tagsOf.has(id)) this.unindex(id);
    let s = this.byKey.get(key);
    if (!s) {
      s = new Set();
      this.byKey.set(key, s);
    }
    s.add(id);
    for (const t of tags) {
      let ts = this.bySurrogate.get(t);
      if (!ts) {
        ts = new Set();
        this.bySurrogate.set(t, ts);
      }
      ts.add(id);
    }
    this.tagsOf.set(id, tags);
  }

  private unindex(id: string): void {
    const tags = this.tagsOf.get(id);
    if (!tags) return;
    this.tagsOf.delete(id);
    const key = id.slice(0, id.indexOf('\0'));
    const s = this.byKey.get(key);
    if (s) {
      s.delete(id);
      if (s.size === 0) this.byKey.delete(key);
    }
    for (const t of tags) {
      const ts = this.bySurrogate.get(t);
      if (ts) {
        ts.delete(id);
        if (ts.size === 0) this.bySurrogate.delete(t);
      }
    }
  }
}
