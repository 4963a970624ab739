/** Edge plane: an RFC 9111 caching reverse proxy (CDN node). See README.md. */

export { PUSH_FIELDS } from './admin.ts';
export { normaliseAcceptEncoding, normaliseHost, normaliseTarget, primaryKey } from './cache-key.ts';
export { CacheStore } from './cache-store.ts';
export { type CachedObject, makeMeta, materialize } from './cached-object.ts';
export { type DemoOrigin, demoFiles, startDemoOrigin } from './demo-origin.ts';
export { type DevCert, makeDevCert } from './dev-cert.ts';
export { createEdge, Edge, type EdgeOptions } from './edge.ts';
export { edgeErrors } from './errors.ts';
export type { EdgeConfig } from './filters.ts';
export * as freshness from './freshness.ts';
export { defaultEdgeHosts, HostSet } from './host-filter.ts';
export { fingerprintName, IMMUTABLE, type PublishItem, type PublishOptions, planPublish, publish } from './publish.ts';
export { RingStore, type RingStoreOptions, zoneRingPath } from './ring-store.ts';
export { EdgeWorkers, type EdgeWorkersOptions } from './workers.ts';
