import { Counter, type Registry } from 'prom-client';

/**
 * Requests by route and status, counted by one server as plain numbers: the hot path adds to
 * its route's Map keyed by status (a number: no string to build or hash), and the registry
 * reads them at scrape time (labels hashed per scrape, not per request).
 */
export class RequestCounts {
  readonly byRoute = new Map<string, Map<number, number>>();

  /** The status counts of one route, made on first use; keep it and count with countStatus(). */
  route(name: string): Map<number, number> {
    let m = this.byRoute.get(name);
    if (!m) {
      m = new Map();
      this.byRoute.set(name, m);
    }
    return m;
  }
}

export function countStatus(counts: Map<number, number>, status: number): void {
  counts.set(status, (counts.get(status) ?? 0) + 1);
}

/** The HTTPDNS metrics, registered once per Registry (every zone's server shares them, labelled by zone). */
export interface HttpdnsMetrics {
  requests: Counter<'zone' | 'route' | 'status'>;
  /** Each server's request counts, read by `requests` at scrape time. */
  sources: Set<{ zone: string; counts: RequestCounts }>;
  rateLimited: Counter<'zone'>;
  signatureRejected: Counter<'zone' | 'code'>;
  speedSamples: Counter<'zone'>;
}

const byRegistry = new WeakMap<Registry, HttpdnsMetrics>();

export function httpdnsMetrics(registry: Registry): HttpdnsMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  const sources = new Set<{ zone: string; counts: RequestCounts }>();
  m = {
    sources,
    requests: new Counter({
      name: 'mz_httpdns_requests_total',
      help: 'HTTPDNS requests by route (d, sign_d, resolve, dns-query, report, other) and HTTP status',
      labelNames: ['zone', 'route', 'status'],
      registers,
      collect(this: Counter<'zone' | 'route' | 'status'>) {
        this.reset();
        for (const { zone, counts } of sources)
          for (const [route, byStatus] of counts.byRoute)
            for (const [status, n] of byStatus) this.inc({ zone, route, status }, n);
      },
    }),
    rateLimited: new Counter({
      name: 'mz_httpdns_rate_limited_total',
      help: 'requests answered 429 by the per-client token bucket',
      labelNames: ['zone'],
      registers,
    }),
    signatureRejected: new Counter({
      name: 'mz_httpdns_signature_rejected_total',
      help: 'signed requests refused, by reason (SignatureExpired, SignatureMismatch, …)',
      labelNames: ['zone', 'code'],
      registers,
    }),
    speedSamples: new Counter({
      name: 'mz_httpdns_speed_samples_total',
      help: 'speed report samples accepted into the latency ranking',
      labelNames: ['zone'],
      registers,
    }),
  };
  byRegistry.set(registry, m);
  return m;
}
