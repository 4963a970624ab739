import { collectDefaultMetrics, Registry } from 'prom-client';

/** One Prometheus registry per cluster process; capabilities add their mz_<cap>_* metrics to it. */
export function createMetrics(opts: { defaults?: boolean } = {}): Registry {
  const r = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: r, prefix: 'mz_process_' });
  return r;
}

export type { Registry };
