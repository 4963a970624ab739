import type { RecordState, ShardDigests } from '../store/index.ts';

/** What anti-entropy needs of a zone: its digests, a shard's records, and a way to merge records in. */
export interface DigestPeer {
  readonly zone: string;
  digests(): Promise<ShardDigests>;
  shardRecords(shard: number): Promise<RecordState[]>;
  repair(states: readonly RecordState[]): Promise<number>;
}

/** What one anti-entropy pass between two zones found and fixed. */
export interface AntiEntropyResult {
  /** Shards whose digests differed. */
  shards: number;
  /** Records changed in either zone. */
  repaired: number;
}

/**
 * The second channel (the lecture's multi-channel sync): compares per-shard digests of two
 * zones and, for each shard that differs, merges each side's records into the other with
 * the same version rules as the log (so a repair never overwrites a newer version, and
 * concurrent versions lock just as they would have). Repairs what the log lost.
 */
export async function antiEntropyPass(a: DigestPeer, b: DigestPeer): Promise<AntiEntropyResult> {
  const [da, db] = await Promise.all([a.digests(), b.digests()]);
  let shards = 0;
  let repaired = 0;
  for (const shard of new Set([...da.keys(), ...db.keys()])) {
    if (da.get(shard) === db.get(shard)) continue;
    shards++;
    const [ra, rb] = await Promise.all([a.shardRecords(shard), b.shardRecords(shard)]);
    repaired += await a.repair(rb);
    repaired += await b.repair(ra);
  }
  return { shards, repaired };
}
