/**
 * Edge metrics on the cluster's prom-client registry. Several edges (one per zone) share a
 * registry in embedded mode, so every metric carries a `zone` label and is created once.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from '../core/metrics.ts';

interface Families {
  requests: Counter<'zone' | 'cache'>;
  hits: Counter<'zone'>;
  misses: Counter<'zone'>;
  bytes: Counter<'zone'>;
  collapsed: Counter<'zone'>;
  originDuration: Histogram<'zone' | 'target'>;
  filter: Counter<'zone' | 'filter' | 'result'>;
  purged: Counter<'zone' | 'mode'>;
  objects: Gauge<'zone'>;
  memoryBytes: Gauge<'zone'>;
  badRequests: Counter<'zone' | 'reason'>;
}

const byRegistry = new WeakMap<Registry, Families>();

function families(r: Registry): Families {
  let f = byRegistry.get(r);
  if (f) return f;
  const registers = [r];
  f = {
    requests: new Counter({
      name: 'mz_edge_requests_total',
      help: 'Requests by cache status (hit, stale, miss, revalidated, pass, synth)',
      labelNames: ['zone', 'cache'],
      registers,
    }),
    hits: new Counter({
      name: 'mz_edge_hits_total',
      help: 'Requests served from cache',
      labelNames: ['zone'],
      registers,
    }),
    misses: new Counter({
      name: 'mz_edge_misses_total',
      help: 'Cacheable requests that went to an upstream',
      labelNames: ['zone'],
      registers,
    }),
    bytes: new Counter({
      name: 'mz_edge_bytes_total',
      help: 'Response body bytes sent',
      labelNames: ['zone'],
      registers,
    }),
    collapsed: new Counter({
      name: 'mz_edge_collapsed_total',
      help: 'Requests that waited on another request’s fetch instead of fetching',
      labelNames: ['zone'],
      registers,
    }),
    originDuration: new Histogram({
      name: 'mz_edge_origin_duration_seconds',
      help: 'Time to upstream response headers',
      labelNames: ['zone', 'target'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    filter: new Counter({
      name: 'mz_edge_filter_total',
      help: 'Request filter outcomes (continue, stop, or what the filter did)',
      labelNames: ['zone', 'filter', 'result'],
      registers,
    }),
    purged: new Counter({
      name: 'mz_edge_purged_objects_total',
      help: 'Objects purged, hard or soft',
      labelNames: ['zone', 'mode'],
      registers,
    }),
    objects: new Gauge({
      name: 'mz_edge_store_objects',
      help: 'Objects stored (both tiers)',
      labelNames: ['zone'],
      registers,
    }),
    memoryBytes: new Gauge({
      name: 'mz_edge_store_memory_bytes',
      help: 'Bytes held by the memory tier',
      labelNames: ['zone'],
      registers,
    }),
    badRequests: new Counter({
      name: 'mz_edge_bad_requests_total',
      help: 'Requests rejected before the cache (malformed, too large, smuggling attempts)',
      labelNames: ['zone', 'reason'],
      registers,
    }),
  };
  byRegistry.set(r, f);
  return f;
}

/** One edge's metric handles, with the zone label bound once (the hit path only calls inc). */
export interface EdgeMetrics {
  request(cache: string): void;
  hit(): void;
  miss(): void;
  bytes(n: number): void;
  collapsed(): void;
  origin(target: string, seconds: number): void;
  filter(name: string, result: string): void;
  purged(mode: 'soft' | 'hard', n: number): void;
  badRequest(reason: string): void;
  setStore(objects: number, memoryBytes: number): void;
}

export function edgeMetrics(r: Registry, zone: string): EdgeMetrics {
  const f = families(r);
  const reqChildren = new Map<string, { inc(): void }>();
  const hits = f.hits.labels(zone);
  const misses = f.misses.labels(zone);
  const bytes = f.bytes.labels(zone);
  const collapsed = f.collapsed.labels(zone);
  return {
    request(cache) {
      let c = reqChildren.get(cache);
      if (!c) {
        c = f.requests.labels(zone, cache);
        reqChildren.set(cache, c);
      }
      c.inc();
    },
    hit: () => hits.inc(),
    miss: () => misses.inc(),
    bytes: (n) => bytes.inc(n),
    collapsed: () => collapsed.inc(),
    origin: (target, s) => f.originDuration.labels(zone, target).observe(s),
    filter: (name, result) => f.filter.labels(zone, name, result).inc(),
    purged: (mode, n) => f.purged.labels(zone, mode).inc(n),
    badRequest: (reason) => f.badRequests.labels(zone, reason).inc(),
    setStore: (objects, mem) => {
      f.objects.labels(zone).set(objects);
      f.memoryBytes.labels(zone).set(mem);
    },
  };
}
