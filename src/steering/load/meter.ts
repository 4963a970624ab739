import type { Clock } from '../../core/clock.ts';

/** The front doors of a zone whose requests are counted: its edge and its router. */
export const LISTENERS = ['edge', 'router'] as const;
export type LoadListener = (typeof LISTENERS)[number];

/**
 * Requests per second of each local zone's edge and router, as an exponentially weighted
 * moving average: each tick folds the hits since the last one in with weight
 * 1 − 2^(−dt / halfLife). Example: half-life 2 s, a steady 100 rps from idle reads 50 after
 * 2 s, 94 after 8 s; when the traffic stops it halves every 2 s.
 */
export class LoadMeter {
  private readonly counts = new Map<string, number>();
  private readonly rates = new Map<string, number>();
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly halfLifeMs: number,
  ) {
    this.last = clock.now();
  }

  /** One request arrived at a zone's listener (the hot path: one map update). */
  hit(zone: string, listener: LoadListener, n = 1): void {
    const k = `${zone}|${listener}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + n);
  }

  /** Folds the hits since the last tick into the averages. */
  tick(): void {
    const now = this.clock.now();
    const dt = now - this.last;
    if (dt <= 0) return;
    this.last = now;
    const alpha = 1 - 2 ** (-dt / this.halfLifeMs);
    const keys = new Set([...this.counts.keys(), ...this.rates.keys()]);
    for (const k of keys) {
      const sample = ((this.counts.get(k) ?? 0) * 1000) / dt;
      const r = this.rates.get(k) ?? 0;
      this.rates.set(k, r + alpha * (sample - r));
    }
    this.counts.clear();
  }

  /** The averaged requests/s of a zone's listener as of the last tick. */
  rate(zone: string, listener: LoadListener): number {
    return this.rates.get(`${zone}|${listener}`) ?? 0;
  }
}
