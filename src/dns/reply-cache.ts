import { TwoGenerationCache } from '../core/two-generation-cache.ts';

/** An encoded reply kept for reuse; patched per query (id, RD/CD bits, question case). */
export interface CachedReply {
  /** The key bytes, to tell hash collisions apart. */
  key: Buffer;
  bytes: Buffer;
  /** Full rcode and query type, for metrics. */
  rcode: number;
  qtype: number;
  /** The reply's smallest record TTL (s), -1 when it has no records. */
  ttl: number;
  /** Steering state version the reply was computed at. */
  version: number;
  /** Monotonic ms after which the entry is stale. */
  expires: number;
  /**
   * A marker, not a reply: packets with these bytes carry no client subnet, so their reply
   * depends on the source address too and is stored under the key with the address added.
   */
  byAddress: boolean;
}

/** FNV-1a over key bytes, folded to 30 bits so Map keys stay small integers. */
export function hashKey(key: Buffer, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return fold30(h);
}

/** Folds a 32-bit FNV state to the 30-bit Map key hashKey returns. */
export const fold30 = (h: number): number => (h ^ (h >>> 30)) & 0x3fffffff;

/**
 * Encoded replies by key hash. Entries are found by hash only: the caller compares the key
 * bytes, so a collision is a miss, never a wrong reply.
 */
export class ReplyCache extends TwoGenerationCache<number, CachedReply> {}
