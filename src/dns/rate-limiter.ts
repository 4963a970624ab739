import { makeAddr } from '../geo/index.ts';

/** What to do with one reply to a source. */
export type RrlVerdict = 'send' | 'drop' | 'slip';

interface Bucket {
  tokens: number;
  last: number;
  /** Replies refused since the bucket was created; picks which ones slip. */
  limited: number;
}

export interface RateLimiterOptions {
  responsesPerSecond: number;
  burst: number;
  /** Every Nth limited reply slips (sent as TC=1 so a real client retries over TCP); 0 = never. */
  slip: number;
  /** Monotonic milliseconds (the injected Clock's now). */
  now: () => number;
  /** Sources tracked at most; idle full buckets are forgotten first. */
  maxSources?: number;
}

/**
 * Per-source response-rate limiting: one token bucket per /24 (IPv4) or /56 (IPv6). A
 * spoofed flood aimed at a victim spends the victim network's bucket, so we stop
 * amplifying after `burst` replies while real clients still get through by TCP (slip).
 */
export class ResponseRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly fullAfterMs: number;
  private readonly maxSources: number;
  // resolvers send runs of queries from one address: skip the key and map lookup for them
  private lastAddress = '';
  private lastBucket: Bucket | undefined;

  constructor(private readonly opts: RateLimiterOptions) {
    this.perMs = opts.responsesPerSecond / 1000;
    this.fullAfterMs = opts.burst / this.perMs;
    this.maxSources = opts.maxSources ?? 100_000;
  }

  /** Decides for one reply to `address` and spends a token when it is sent. */
  check(address: string, now: number = this.opts.now()): RrlVerdict {
    let b = address === this.lastAddress ? this.lastBucket : this.buckets.get(sourceNetwork(address));
    if (!b) {
      if (this.buckets.size >= this.maxSources) this.prune(now);
      b = { tokens: this.opts.burst, last: now, limited: 0 };
      this.buckets.set(sourceNetwork(address), b);
      this.lastAddress = address;
      this.lastBucket = b;
    } else {
      this.lastAddress = address;
      this.lastBucket = b;
      b.tokens = Math.min(this.opts.burst, b.tokens + (now - b.last) * this.perMs);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 'send';
    }
    b.limited++;
    return this.opts.slip > 0 && b.limited % this.opts.slip === 0 ? 'slip' : 'drop';
  }

  /** Networks currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    this.lastAddress = '';
    this.lastBucket = undefined;
    for (const [k, b] of this.buckets) if (now - b.last >= this.fullAfterMs) this.buckets.delete(k);
    // still full of active sources (a spoofed flood): forget the oldest tenth
    let drop = this.buckets.size - Math.floor(this.maxSources * 0.9);
    for (const k of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}

/** The network a source address is limited as: '1.2.3' for 1.2.3.4, the /56 for IPv6. */
export function sourceNetwork(address: string): string {
  const dot = address.lastIndexOf('.');
  if (dot > 0) return address.slice(0, dot); // IPv4, or IPv4-mapped IPv6
  try {
    return makeAddr(6, address, 56).address;
  } catch {
    return address;
  }
}
