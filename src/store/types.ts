/** Types shared by every Store adapter. */

/** A resource's class from the topology: who writes it and where it lives. */
export type ResourceClass = 'global' | 'sharded' | 'local';

/** Zone → number of writes that zone made to the record (a version vector). */
export type VersionVector = Readonly<Record<string, number>>;

/** One version of a record (a candidate when the record is locked by a conflict). */
export interface Candidate {
  /** Zone that made this version's last write. */
  origin: string;
  vv: VersionVector;
  value: unknown;
  deleted: boolean;
  /** Wall time of the write (ms), for people; never used to pick a winner. */
  time: number;
}

/** A record as stored: its current version plus, when locked, every concurrent version. */
export interface RecordState {
  resource: string;
  key: string;
  shard: number;
  cls: ResourceClass;
  value: unknown;
  deleted: boolean;
  vv: VersionVector;
  /** Sum of the version vector: grows with every write anywhere. */
  version: number;
  /** Zone of the last write. */
  origin: string;
  time: number;
  /** True when concurrent writes were detected and the policy said lock: reads say so, writes are refused. */
  locked: boolean;
  /** The concurrent versions (empty unless locked), in a deterministic order. */
  candidates: Candidate[];
}

/** A record as a read returns it. */
export type RecordView = RecordState;

/** One entry of a zone's change log (the outbox), shipped to every other zone. */
export interface Change {
  /** Position in the origin zone's change log: 1, 2, 3, … without gaps. */
  seq: number;
  origin: string;
  shard: number;
  epoch: number;
  cls: ResourceClass;
  resource: string;
  key: string;
  value: unknown;
  deleted: boolean;
  vv: VersionVector;
  version: number;
  /** Wall time of the write (ms). */
  time: number;
}

/** A write request: the router passes the shard and epoch it routed with. */
export interface WriteRequest {
  resource: string;
  key: string;
  shard: number;
  /** The shard map epoch the request was routed at (X-Multizone-Epoch). */
  epoch: number;
  value?: unknown;
  /** Delete instead of write (a tombstone that replicates). */
  delete?: boolean;
  /** Optimistic concurrency: refuse unless the record's current version is this (0 = must not exist). */
  ifVersion?: number;
}

/** What an accepted write returns. */
export interface WriteResult {
  seq: number;
  version: number;
  vv: VersionVector;
}

/** What applying a batch from another zone did. */
export interface ApplyResult {
  applied: number;
  /** Already applied (seq at or below the cursor): idempotent skips. */
  duplicates: number;
  /** Older than what this zone already holds. */
  stale: number;
  /** Records that became (or stayed) locked. */
  conflicts: number;
  /** Concurrent writes settled by owner-wins or a merge function. */
  settled: number;
  /** The per-origin cursor after the batch. */
  cursor: number;
  /**
   * Resolves once the apply survives a crash of the store (absent: it already does); rejects
   * when that cannot be known — the batch may be lost and must be applied again.
   */
  durable?: Promise<void>;
}

/** An open conflict: a locked record and its candidate versions. */
export interface Conflict {
  /** `resource/key`. */
  id: string;
  resource: string;
  key: string;
  shard: number;
  candidates: (Candidate & { version: number })[];
  /** Wall time the lock was taken in this zone. */
  lockedAt: number;
}

/** Per-shard digest of the replicated records (global and sharded, not local). */
export type ShardDigests = Map<number, string>;

/**
 * A zone's data store. Both adapters (SQLite, PostgreSQL) pass the same contract suite
 * (test/integration/store/store.contract.ts).
 */
export interface Store {
  readonly zone: string;
  readonly kind: 'sqlite' | 'postgres';
  /** Reads a record (deleted records read as undefined unless locked). */
  get(resource: string, key: string): Promise<RecordView | undefined>;
  /** Records of a resource whose key starts with `prefix`, in key order (deleted ones left out). */
  list(resource: string, prefix: string, limit?: number): Promise<RecordView[]>;
  /** The raw stored state (tombstones included), for replication checks. */
  state(resource: string, key: string): Promise<RecordState | undefined>;
  /** A fenced local write; appends to the change log in the same transaction. */
  put(req: WriteRequest): Promise<WriteResult>;
  /** Many fenced writes in one transaction (group commit); all or nothing. */
  putMany(reqs: readonly WriteRequest[]): Promise<WriteResult[]>;
  /**
   * Applies changes from another zone, in seq order, exactly once: changes at or below the
   * stored cursor for `origin` are skipped; the cursor moves in the same transaction, to
   * the last change or to `upTo` when the batch covered more seqs than it carried. The changes
   * are read-only to both sides: a store may keep what it derived from them (an encoding) on
   * the array, and one received batch is handed to every local destination.
   */
  apply(origin: string, changes: readonly Change[], upTo?: number): Promise<ApplyResult>;
  /** Highest seq of `origin` applied here (0 if none). */
  cursor(origin: string): Promise<number>;
  /** Every origin's cursor. */
  cursors(): Promise<Record<string, number>>;
  /** Change log entries after `afterSeq`, oldest first. */
  changesAfter(afterSeq: number, limit: number): Promise<Change[]>;
  /** Highest seq in this zone's change log (0 if none). */
  lastSeq(): Promise<number>;
  /**
   * Deletes change-log entries up to `throughSeq` (the caller knows every zone has them);
   * the newest entry always stays, so sequence numbers never restart. Returns how many went.
   */
  pruneChanges(throughSeq: number): Promise<number>;
  /** Wall time of change `seq`, if it exists. */
  timeOf(seq: number): Promise<number | undefined>;
  /** The shipped position (every change up to it was handed to the log). */
  shipped(): Promise<number>;
  markShipped(seq: number): Promise<void>;
  /** Open conflicts in this zone. */
  conflicts(): Promise<Conflict[]>;
  /**
   * Resolves a conflict by choosing a candidate (`pick` = its origin zone, its version
   * number, or its version vector as `zone:n,zone:n`). The choice is written as a new
   * local version that dominates every candidate, so it replicates and unlocks everywhere.
   */
  resolve(id: string, pick: string): Promise<WriteResult>;
  /**
   * Digest per shard over replicated records (anti-entropy compares these). Kept between
   * calls while the store's stamp — its last change-log seq, its cursors, its count of
   * repairs, all in the database — stays the same: a store nobody wrote to since is not
   * hashed again. A change made around the store (raw SQL on its tables) is not seen until
   * the stamp moves.
   */
  digests(): Promise<ShardDigests>;
  /** Every replicated record of the shard (for anti-entropy repair). */
  shardRecords(shard: number): Promise<RecordState[]>;
  /** Merges record states from another zone (anti-entropy); no change log entries. */
  repair(states: readonly RecordState[]): Promise<number>;
  /**
   * Calls `listener` after every local commit that appended to the change log (put, putMany,
   * resolve), whichever handle made it, so a shipper ships on commit instead of on a timer.
   * Returns a function that removes the listener. Optional: without it the shipper polls.
   */
  onCommit?(listener: () => void): () => void;
  close(): Promise<void>;
}
