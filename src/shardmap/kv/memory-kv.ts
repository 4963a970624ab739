import { shardmapErrors } from '../errors.ts';
import { type Kv, type KvEntry, type KvPutOptions, type KvWatch, validKey, validPrefix } from './kv.ts';

/**
 * The embedded-mode Kv: a Map with a bucket-wide revision counter and synchronous-order
 * watch delivery (on a microtask, so callers never re-enter themselves).
 */
export class MemoryKv implements Kv {
  private readonly data = new Map<string, { value: string; revision: number }>();
  private readonly watchers = new Set<{ prefix: string; fn: (e: KvEntry) => void }>();
  private revision = 0;
  private closed = false;

  async get(key: string): Promise<KvEntry | null> {
    this.check(key);
    const e = this.data.get(key);
    return e ? { key, value: e.value, revision: e.revision } : null;
  }

  async put(key: string, value: string, opts: KvPutOptions = {}): Promise<number> {
    this.check(key);
    this.cas(key, opts);
    const revision = ++this.revision;
    this.data.set(key, { value, revision });
    this.emit({ key, value, revision });
    return revision;
  }

  async delete(key: string, opts: KvPutOptions = {}): Promise<void> {
    this.check(key);
    this.cas(key, opts);
    if (!this.data.has(key)) return;
    this.data.delete(key);
    this.emit({ key, value: null, revision: ++this.revision });
  }

  async watch(prefix: string, listener: (e: KvEntry) => void): Promise<KvWatch> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad watch prefix "${prefix}"`);
    const w = { prefix, fn: listener };
    this.watchers.add(w);
    return { stop: () => void this.watchers.delete(w) };
  }

  async keys(prefix: string): Promise<string[]> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad prefix "${prefix}"`);
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }

  private check(key: string): void {
    if (this.closed) throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE('kv: closed');
    if (!validKey(key)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad key "${key}"`);
  }

  private cas(key: string, opts: KvPutOptions): void {
    if (opts.expect === undefined) return;
    const have = this.data.get(key)?.revision ?? 0;
    if (have !== opts.expect)
      throw shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv: ${key} is at revision ${have}, expected ${opts.expect}`, {
        details: { key, have, expected: opts.expect },
      });
  }

  private emit(e: KvEntry): void {
    for (const w of this.watchers)
      if (e.key.startsWith(w.prefix)) queueMicrotask(() => this.watchers.has(w) && w.fn(e));
  }
}
