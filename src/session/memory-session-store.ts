import type { Clock } from '../core/clock.ts';
import { checkId, checkTtl, encodeValue } from './check.ts';
import { sessionErrors } from './errors.ts';
import type { SessionStore } from './types.ts';

interface Entry {
  json: string;
  expires: number;
}

/**
 * Sessions in this process (embedded mode), expiring on the injected clock. Values are kept
 * as JSON text so a read is a copy, as it is from Redis. Bounded: past `max` sessions the
 * expired ones go first, then the least recently written.
 */
export class MemorySessionStore implements SessionStore {
  private readonly map = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly max = 100_000,
  ) {}

  async put(id: string, value: unknown, ttlMs: number): Promise<void> {
    this.open();
    checkId(id);
    checkTtl(ttlMs);
    const json = encodeValue(value);
    const now = this.clock.now();
    this.map.delete(id); // re-inserted at the end: Map order is write order
    if (this.map.size >= this.max) this.evict(now);
    this.map.set(id, { json, expires: now + ttlMs });
  }

  async get(id: string, opts: { slideMs?: number } = {}): Promise<unknown> {
    this.open();
    checkId(id);
    if (opts.slideMs !== undefined) checkTtl(opts.slideMs, 'slideMs');
    const e = this.map.get(id);
    if (e === undefined) return undefined;
    const now = this.clock.now();
    if (e.expires <= now) {
      this.map.delete(id);
      return undefined;
    }
    if (opts.slideMs !== undefined) e.expires = now + opts.slideMs;
    return JSON.parse(e.json);
  }

  async delete(id: string): Promise<boolean> {
    this.open();
    checkId(id);
    const e = this.map.get(id);
    this.map.delete(id);
    return e !== undefined && e.expires > this.clock.now();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.map.clear();
  }

  /** Sessions held, expired ones included until they are touched or evicted. */
  get size(): number {
    return this.map.size;
  }

  private open(): void {
    if (this.closed) throw sessionErrors.ERR_SESSION_CLOSED('the session store is closed');
  }

  private evict(now: number): void {
    for (const [k, e] of this.map) if (e.expires <= now) this.map.delete(k);
    // still full of live sessions: drop the oldest tenth
    let drop = this.map.size - Math.floor(this.max * 0.9);
    for (const k of this.map.keys()) {
      if (drop-- <= 0) break;
      this.map.delete(k);
    }
  }
}
