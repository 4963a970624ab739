/**
 * Edge metrics on the cluster's prom-client registry. Several edges (one per zone) share a
 * registry in embedded mode, so every metric carries a `zone` label and is created once. The
 * per-request counts (requests, hits, misses, bytes) are plain numbers on the hot path and are
 * added to the counters when the registry is scraped.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from '../core/metrics.ts';

interface Pending {
  zone: string;
  requests: Map<string, number>;
  hits: number;
  leanHits: number;
  misses: number;
  bytes: number;
}

interface Families {
  pending: Set<Pending>;
  requests: Counter<'zone' | 'cache'>;
  hits: Counter<'zone'>;
  leanHits: Counter<'zone'>;
  leanHandoffs: Counter<'zone' | 'reason'>;
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
  const known = byRegistry.get(r);
  if (known) return known;
  const registers = [r];
  const pending = new Set<Pending>();
  let fam: Families | undefined;
  // prom-client calls collect() before reading a metric: move the plain counts in then
  const flush = () => {
    if (!fam) return;
    for (const p of pending) {
      for (const [cache, n] of p.requests) if (n) fam.requests.inc({ zone: p.zone, cache }, n);
      for (const k of p.requests.keys()) p.requests.set(k, 0);
      if (p.hits) fam.hits.inc({ zone: p.zone }, p.hits);
      if (p.leanHits) fam.leanHits.inc({ zone: p.zone }, p.leanHits);
      if (p.misses) fam.misses.inc({ zone: p.zone }, p.misses);
      if (p.bytes) fam.bytes.inc({ zone: p.zone }, p.bytes);
      p.hits = 0;
      p.leanHits = 0;
      p.misses = 0;
      p.bytes = 0;
    }
  };
  const counter = <L extends string>(name: string, help: string, labelNames: L[], collect?: () => void) =>
    new Counter<L>({ name, help, labelNames, registers, ...(collect ? { collect } : {}) });
  fam = {
    pending,
    requests: counter(
      'mz_edge_requests_total',
      'Requests by how they were served (hit, stale, miss, revalidated, pass, synth)',
      ['zone', 'cache'],
      flush,
    ),
    hits: counter('mz_edge_hits_total', 'Requests served from cache (fresh or allowed stale)', ['zone'], flush),
    leanHits: counter(
      'mz_edge_lean_hits_total',
      'Hits served on the lean path (a part of mz_edge_hits_total)',
      ['zone'],
      flush,
    ),
    leanHandoffs: counter(
      'mz_edge_lean_handoffs_total',
      'Connections the lean path handed to node:http, by the first request it did not serve',
      ['zone', 'reason'],
    ),
    misses: counter('mz_edge_misses_total', 'Cacheable requests that went to an upstream', ['zone'], flush),
    bytes: counter('mz_edge_bytes_total', 'Response body bytes sent from cache and upstream', ['zone'], flush),
    collapsed: counter('mz_edge_collapsed_total', 'Requests that waited on another request’s fetch', ['zone']),
    originDuration: new Histogram({
      name: 'mz_edge_origin_duration_seconds',
      help: 'Time to upstream response headers',
      labelNames: ['zone', 'target'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    filter: counter('mz_edge_filter_total', 'Request filter outcomes by filter and result', [
      'zone',
      'filter',
      'result',
    ]),
    purged: counter('mz_edge_purged_objects_total', 'Objects purged, hard or soft', ['zone', 'mode']),
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
    badRequests: counter(
      'mz_edge_bad_requests_total',
      'Requests rejected before the cache (malformed, too large, smuggling attempts)',
      ['zone', 'reason'],
    ),
  };
  byRegistry.set(r, fam);
  return fam;
}

/** One edge's metric handles (the hit path only bumps plain numbers). */
export interface EdgeMetrics {
  request(cache: string): void;
  hit(): void;
  /** A hit served on the lean path (also counted by hit()). */
  leanHit(): void;
  leanHandoff(reason: string): void;
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
  const p: Pending = { zone, requests: new Map(), hits: 0, leanHits: 0, misses: 0, bytes: 0 };
  f.pending.add(p);
  const collapsed = f.collapsed.labels(zone);
  return {
    request(cache) {
      p.requests.set(cache, (p.requests.get(cache) ?? 0) + 1);
    },
    hit: () => {
      p.hits++;
    },
    leanHit: () => {
      p.leanHits++;
    },
    leanHandoff: (reason) => f.leanHandoffs.labels(zone, reason).inc(),
    miss: () => {
      p.misses++;
    },
    bytes: (n) => {
      p.bytes += n;
    },
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
