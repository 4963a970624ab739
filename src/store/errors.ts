import { defineErrors } from '../core/errors.ts';

/** Store error codes; the router maps NOT_OWNER/NOT_CORE to 421, FENCED to 503 and STALE_EPOCH/LOCKED/VERSION_MISMATCH to 409. */
export const storeErrors = defineErrors({
  ERR_STORE_NOT_OWNER: 'this zone does not own the shard the write belongs to (misdirected; the router answers 421)',
  ERR_STORE_FENCED:
    'this zone owns the shard but may not write it now: its lease lapsed (cut off from the control Kv), it is draining, or the previous owner’s lease is not out yet; nothing was written, retry shortly (503)',
  ERR_STORE_STALE_EPOCH: 'the write carries a shard epoch other than the current one (the shard moved; 409)',
  ERR_STORE_NOT_CORE: 'a global resource was written outside the core zone (only the core zone writes it; 421)',
  ERR_STORE_LOCKED: 'the record is locked by a replication conflict; resolve it before writing (409)',
  ERR_STORE_VERSION_MISMATCH: 'the write named a base version other than the record’s current version (409)',
  ERR_STORE_UNKNOWN_RESOURCE: 'the resource is not declared in the topology',
  ERR_STORE_BAD_SHARD: 'the shard number is outside 0..count-1',
  ERR_STORE_ZONE_MISMATCH: 'the store file or schema belongs to another zone',
  ERR_STORE_UNSAFE_DURABILITY: 'the database would acknowledge commits it can lose (e.g. synchronous_commit=off)',
  ERR_STORE_CONFLICT_UNKNOWN: 'no open conflict has this id',
  ERR_STORE_CONFLICT_PICK: 'the --pick value matches none (or more than one) of the conflict’s versions',
  ERR_STORE_UNKNOWN_MERGE: 'a resource names a merge function (conflict: merge:NAME) that is not registered',
  ERR_STORE_CLOSED: 'the store was used after close()',
  ERR_STORE_UNAVAILABLE:
    'the database cannot take the operation now (PostgreSQL unreachable or its connection dropped; SQLite’s disk full, an I/O error, a read-only file); it failed and was not acknowledged (503)',
  ERR_STORE_IN_USE:
    'another running process (or store) holds this zone’s SQLite file; give each cluster its own store.dataDir',
  ERR_STORE_TOO_LARGE:
    'the value (its JSON plus the key) is over store.maxValueBytes; the write is refused before it reaches the change log (413)',
  ERR_STORE_BAD_VALUE: 'the value cannot be written as JSON (e.g. a BigInt or a cycle); nothing is written (400)',
  ERR_STORE_BAD_CHANGE:
    'a change to apply is malformed (e.g. its seq is not a number); nothing of the batch is applied',
});
