import assert from 'node:assert/strict';
import type { Clock } from '../../src/core/clock.ts';
import type { ShardMap } from '../../src/shardmap/index.ts';

/** One epoch of a shard as the Kv recorded it: its owner, when written, when fenced writes may start. */
export interface Epoch {
  zone: string;
  at: number;
  notBefore: number;
}

/**
 * The fencing invariant of the simulations: a zone writes shard s only as the owner of the
 * epoch it writes at, never after a newer epoch of s has become writable, and never at an
 * older epoch than one already written. `history` is every shard's epochs from the Kv watch.
 */
export function writeChecker(o: {
  seed: number;
  clock: Clock;
  history: Map<number, Map<number, Epoch>>;
  view(zone: string): ShardMap;
}): { tryWrite(zone: string, shard: number): void; writes(): number } {
  const lastEpoch = new Map<number, number>();
  let writes = 0;
  return {
    writes: () => writes,
    tryWrite(z, s) {
      const view = o.view(z);
      const e = view.entry(s);
      if (!view.canWrite(z, s, e.epoch)) return;
      const now = o.clock.wallTime();
      const h = o.history.get(s)!;
      const ctx = `seed ${o.seed} t=${o.clock.now()} ${z} writes shard ${s} at epoch ${e.epoch}`;
      assert.equal(h.get(e.epoch)?.zone, z, `${ctx}: not the owner of that epoch`);
      for (const [epoch, later] of h)
        if (epoch > e.epoch)
          assert.ok(
            now < Math.max(later.at, later.notBefore),
            `${ctx}: epoch ${epoch} (${later.zone}) is already writable`,
          );
      assert.ok((lastEpoch.get(s) ?? 0) <= e.epoch, `${ctx}: an older epoch after epoch ${lastEpoch.get(s)}`);
      lastEpoch.set(s, e.epoch);
      writes++;
    },
  };
}
