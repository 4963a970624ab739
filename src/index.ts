/**
 * multizone's public API: start a cluster (or the zones of it this process runs) with your
 * application, and the contracts its parts are built on. The client SDK is `multizone/sdk`.
 */

export type { Clock } from './core/clock.ts';
export { isPlatformError, PlatformError } from './core/errors.ts';
export type { Random } from './core/random.ts';
export type { Log, LogBatch, LogSubscription } from './replication/index.ts';
export {
  type AppContext,
  type AppRole,
  type AppServer,
  type ClusterOptions,
  echoAppRole,
  type ListenerInfo,
  type RunningCluster,
  type Services,
  startCluster,
} from './runtime/index.ts';
export type { SessionStore } from './session/index.ts';
export { openSessionStore } from './session/index.ts';
export { GLOBAL, HEADERS, type Kv, type KvEntry, type ShardMapView, shardForKey } from './shardmap/index.ts';
export type { Change, RecordView, Store, WriteRequest, WriteResult } from './store/index.ts';
export { checkTopology, loadTopology, parseTopology, type Topology, type Zone } from './topology/index.ts';
export { isInternalPath, RequestSigner, type SignableRequest, trustErrors, type Verified } from './trust/index.ts';
