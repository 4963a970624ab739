import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';

/** Metrics another process of the zone keeps (an edge worker), as prom-client's JSON. */
export type RemoteMetrics = () => Promise<MetricObjectWithValues<MetricValue<string>>[]>;

const remotes = new WeakMap<Registry, Set<RemoteMetrics>>();

/** Adds a process's metrics to what the registry's /metrics shows (summed by name and labels); returns the removal. */
export function addRemoteMetrics(reg: Registry, source: RemoteMetrics): () => void {
  const set = remotes.get(reg) ?? new Set<RemoteMetrics>();
  remotes.set(reg, set);
  set.add(source);
  return () => set.delete(source);
}

/** The registry's exposition text, with its remote processes' metrics added in. */
export async function renderMetrics(reg: Registry): Promise<string> {
  const sources = [...(remotes.get(reg) ?? [])];
  if (sources.length === 0) return reg.metrics();
  // a worker that does not answer (restarting) is left out of this scrape, not the whole scrape
  const all = await Promise.all([reg.getMetricsAsJSON(), ...sources.map((f) => f().catch(() => []))]);
  return AggregatorRegistry.aggregate(all as never).metrics();
}

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
