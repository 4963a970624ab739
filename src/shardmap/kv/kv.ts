/**
 * The control-state store: a small watched key-value store with compare-and-set.
 * Two adapters (in-memory for embedded mode, NATS JetStream KV for distributed mode)
 * pass the same contract suite (test/integration/shardmap/kv.contract.ts).
 *
 * Keys are dot-separated tokens of `[A-Za-z0-9_=-]` (NATS subject rules), e.g. `map.17`.
 * Revisions grow across the whole bucket (a later write always has a larger revision).
 */
export interface KvEntry {
  key: string;
  /** The value; null for a delete event. */
  value: string | null;
  revision: number;
}

export interface KvPutOptions {
  /** Compare-and-set: 0 = the key must not exist (or be deleted); n = its revision must be n. */
  expect?: number;
}

/** A running watch; stop() ends it. */
export interface KvWatch {
  stop(): void;
}

export interface Kv {
  /** The live entry, or null when absent or deleted. */
  get(key: string): Promise<KvEntry | null>;
  /** Writes a value; returns its revision. Throws ERR_FAILOVER_KV_CONFLICT when `expect` misses. */
  put(key: string, value: string, opts?: KvPutOptions): Promise<number>;
  /** Deletes a key (a no-op when absent); `expect` as for put. */
  delete(key: string, opts?: KvPutOptions): Promise<void>;
  /**
   * Calls listener for every change under prefix ('' = all, else ending in '.') made after
   * the returned promise resolves, in revision order. Read the current state after it resolves.
   */
  watch(prefix: string, listener: (e: KvEntry) => void): Promise<KvWatch>;
  /** Live keys under prefix, sorted. */
  keys(prefix: string): Promise<string[]>;
  /**
   * Optional: the connection looks dead (a request went unanswered): drop it and connect to
   * another server now, instead of when pings notice. Never throws.
   */
  reconnect?(): Promise<void>;
  close(): Promise<void>;
}

const KEY = /^[A-Za-z0-9_=-]+(\.[A-Za-z0-9_=-]+)*$/;

/** True when key is a valid Kv key for every adapter. */
export function validKey(key: string): boolean {
  return KEY.test(key);
}

/** True when prefix is '' or a valid key followed by '.'. */
export function validPrefix(prefix: string): boolean {
  return prefix === '' || (prefix.endsWith('.') && KEY.test(prefix.slice(0, -1)));
}
