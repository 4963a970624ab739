import { Counter, type Registry } from 'prom-client';

/** The HTTPDNS metrics, registered once per Registry (every zone's server shares them, labelled by zone). */
export interface HttpdnsMetrics {
  requests: Counter<'zone' | 'route' | 'status'>;
  rateLimited: Counter<'zone'>;
  signatureRejected: Counter<'zone' | 'code'>;
  speedSamples: Counter<'zone'>;
}

const byRegistry = new WeakMap<Registry, HttpdnsMetrics>();

export function httpdnsMetrics(registry: Registry): HttpdnsMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  m = {
    requests: new Counter({
      name: 'mz_httpdns_requests_total',
      help: 'HTTPDNS requests by route (d, sign_d, resolve, dns-query, report, other) and HTTP status',
      labelNames: ['zone', 'route', 'status'],
      registers,
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
