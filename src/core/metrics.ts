import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

/** One Prometheus registry per cluster process; capabilities add their mz_<cap>_* metrics to it. */
export function createMetrics(opts: { defaults?: boolean } = {}): Registry {
  const r = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: r, prefix: 'mz_process_' });
  return r;
}

/** A counter whose value is read from a running total when scraped (the total is the truth). */
export function scrapedCounter(reg: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [reg],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export type { Registry };
