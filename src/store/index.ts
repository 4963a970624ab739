/** Zone data stores behind one interface: SQLite (embedded) and PostgreSQL. See README.md. */

export { storeErrors } from './errors.ts';
export { fenceFromShardMap, MemoryFence, type ShardMapLike, type WriteFence } from './fence.ts';
export { openStore } from './open.ts';
export { PgStore, type PgStoreOptions } from './pg-store.ts';
export { BUILTIN_MERGES, type ResourcePolicies, resourcePolicies } from './policy.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
export type {
  ApplyResult,
  Candidate,
  Change,
  Conflict,
  RecordState,
  RecordView,
  ResourceClass,
  ShardDigests,
  Store,
  VersionVector,
  WriteRequest,
  WriteResult,
} from './types.ts';
export {
  type ConflictPolicy,
  compareVv,
  descendsFrom,
  type MergeFn,
  maxVv,
  type Order,
  reconcile,
  stateDigest,
  vvSum,
  vvText,
} from './versions.ts';
export { lsnToNumber, numberToLsn, WalFlushWatch } from './wal-flush.ts';
export type { StoreDeps } from './write-plan.ts';
