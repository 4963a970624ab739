import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/clock.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per client: `perSecond` tokens refill, up to `burst`. take() says whether
 * the request may go on, or how many seconds until it may (for Retry-After). The buckets
 * live in an LRU so a flood of distinct sources cannot grow memory without bound.
 */
export class RateLimiter {
  private readonly buckets = new LRUCache<string, Bucket>({ max: 100_000 });

  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** 0 when allowed; otherwise whole seconds to wait (≥ 1). */
  take(client: string): number {
    if (this.perSecond <= 0) return 0;
    const now = this.clock.now();
    let b = this.buckets.get(client);
    if (!b) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }
}
