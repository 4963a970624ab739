import { shardmapErrors } from '../errors.ts';
import type { Kv, KvEntry, KvPutOptions, KvWatch } from './kv.ts';

/**
 * A zone's own handle on the shared Kv with a fault switch: while `isolated`, every call
 * fails with ERR_FAILOVER_KV_UNAVAILABLE and watch events are dropped, as for a zone cut
 * off from the control plane's majority. On heal, watchers get every live entry again so
 * caches catch up (their revision checks drop what they already had).
 */
export class PartitionableKv implements Kv {
  private isolatedFlag = false;
  private readonly watches = new Set<{ prefix: string; fn: (e: KvEntry) => void }>();

  constructor(
    private readonly inner: Kv,
    readonly label: string,
  ) {}

  get isolated(): boolean {
    return this.isolatedFlag;
  }

  /** Cuts or heals this handle. Healing replays the current state to watchers. */
  setIsolated(on: boolean): void {
    if (this.isolatedFlag === on) return;
    this.isolatedFlag = on;
    if (!on) void this.replay();
  }

  private async replay(): Promise<void> {
    for (const w of this.watches) {
      try {
        for (const k of await this.inner.keys(w.prefix)) {
          const e = await this.inner.get(k);
          if (e && !this.isolatedFlag && this.watches.has(w)) w.fn(e);
        }
      } catch {
        // the next heal or the next change will bring it up to date
      }
    }
  }

  private guard(what: string): void {
    if (this.isolatedFlag)
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(
        `kv: ${this.label} is partitioned from the control plane (${what})`,
      );
  }

  async get(key: string): Promise<KvEntry | null> {
    this.guard(`get ${key}`);
    return this.inner.get(key);
  }

  async put(key: string, value: string, opts?: KvPutOptions): Promise<number> {
    this.guard(`put ${key}`);
    return this.inner.put(key, value, opts);
  }

  /** Passed on: an isolated handle has no connection of its own to renew. */
  async reconnect(): Promise<void> {
    if (!this.isolatedFlag) await this.inner.reconnect?.();
  }

  async delete(key: string, opts?: KvPutOptions): Promise<void> {
    this.guard(`delete ${key}`);
    return this.inner.delete(key, opts);
  }

  async watch(prefix: string, listener: (e: KvEntry) => void): Promise<KvWatch> {
    this.guard(`watch ${prefix}`);
    const w = { prefix, fn: listener };
    const inner = await this.inner.watch(prefix, (e) => {
      if (!this.isolatedFlag) listener(e);
    });
    this.watches.add(w);
    return {
      stop: () => {
        this.watches.delete(w);
        inner.stop();
      },
    };
  }

  async keys(prefix: string): Promise<string[]> {
    this.guard(`keys ${prefix}`);
    return this.inner.keys(prefix);
  }

  /** Closing a zone's handle leaves the shared Kv open. */
  async close(): Promise<void> {
    this.watches.clear();
  }
}
