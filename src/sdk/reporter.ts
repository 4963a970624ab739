import type { Clock, Timer } from '../core/clock.ts';
import { hmacSha256Hex } from './sign.ts';

/** One measured connect to an address. */
export interface SpeedSample {
  host?: string;
  ip: string;
  rttMs: number;
  ok: boolean;
}

export interface ReporterOptions {
  clock: Clock;
  fetch: typeof fetch;
  /** Base URL to send to (the resolver's current server). */
  server: () => string;
  account?: string;
  secret?: string;
  /** How often a batch is sent. Default 30 s. */
  intervalMs?: number;
  /** A batch is sent early when it holds this many samples. Default 50 (the server takes ≤ 200). */
  maxBatch?: number;
  onError?: (e: unknown) => void;
}

/**
 * Batches measured connect RTTs and POSTs them to `/report`, signed when a secret is set
 * (`?account=&t=&s=`, s = hex HMAC-SHA256(secret, `${body}-${t}`)). A failed send drops
 * the batch: speed reports are advisory, and holding them would only grow memory.
 */
export class SpeedReporter {
  private batch: SpeedSample[] = [];
  private readonly timer: Timer;
  private readonly maxBatch: number;
  sent = 0;
  failed = 0;

  constructor(private readonly opts: ReporterOptions) {
    this.maxBatch = opts.maxBatch ?? 50;
    this.timer = opts.clock.setInterval(opts.intervalMs ?? 30_000, () => void this.flush());
  }

  add(s: SpeedSample): void {
    this.batch.push(s);
    if (this.batch.length >= this.maxBatch) void this.flush();
  }

  get pending(): number {
    return this.batch.length;
  }

  /** Sends what has been collected; resolves when the server answered (or the send failed). */
  async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const samples = this.batch.splice(0, 200);
    const body = JSON.stringify({
      reports: samples.map((s) => ({ host: s.host, ip: s.ip, rtt_ms: Math.round(s.rttMs * 10) / 10, ok: s.ok })),
    });
    let qs = '';
    if (this.opts.secret) {
      const t = Math.floor(this.opts.clock.wallTime() / 1000) + 300;
      const s = await hmacSha256Hex(this.opts.secret, `${body}-${t}`);
      qs = `?${this.opts.account ? `account=${encodeURIComponent(this.opts.account)}&` : ''}t=${t}&s=${s}`;
    }
    try {
      const r = await this.opts.fetch(`${this.opts.server()}/report${qs}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`report: HTTP ${r.status}`);
      this.sent += samples.length;
    } catch (e) {
      this.failed += samples.length;
      this.opts.onError?.(e);
    }
  }

  close(): void {
    this.timer.cancel();
  }
}
