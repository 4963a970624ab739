import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The health checker's metrics (see README.md, Metrics). */
export interface HealthMetrics {
  endpointUp: Gauge<'endpoint' | 'zone' | 'role'>;
  probeDuration: Histogram<'role'>;
  probes: Counter<'result'>;
  verdictChanges: Counter<'to'>;
}

/** Registers the metrics once per registry (a second checker on the same registry reuses them). */
export function healthMetrics(registry: Registry): HealthMetrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    endpointUp: get(
      'mz_health_endpoint_up',
      () =>
        new Gauge({
          name: 'mz_health_endpoint_up',
          help: 'Quorum verdict per endpoint: 1 up, 0 down',
          labelNames: ['endpoint', 'zone', 'role'],
          registers: [registry],
        }),
    ),
    probeDuration: get(
      'mz_health_probe_duration_seconds',
      () =>
        new Histogram({
          name: 'mz_health_probe_duration_seconds',
          help: 'Time from probe start to answer, error or timeout',
          labelNames: ['role'],
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers: [registry],
        }),
    ),
    probes: get(
      'mz_health_probes_total',
      () =>
        new Counter({
          name: 'mz_health_probes_total',
          help: 'Probes by result: ok, timeout, connect, status, bad_answer, stalled (our loop was blocked; not counted)',
          labelNames: ['result'],
          registers: [registry],
        }),
    ),
    verdictChanges: get(
      'mz_health_verdict_changes_total',
      () =>
        new Counter({
          name: 'mz_health_verdict_changes_total',
          help: 'Endpoint verdict flips, by the new verdict (up or down)',
          labelNames: ['to'],
          registers: [registry],
        }),
    ),
  };
}
