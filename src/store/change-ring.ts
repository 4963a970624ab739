import type { Change } from './types.ts';

/**
 * Most changes a ring keeps: a burst the shipper has not caught up with (markShipped prunes
 * what it has shipped, so normally it holds a batch or two); past it the oldest half goes.
 */
const RING_MAX = 20_000;

/**
 * Recent committed changes of this store in seq order, so the shipper rarely reads the change
 * log back (PEERS.md: reading 4000 rows of jsonb back costs ~50 ms). It only ever holds a
 * contiguous run of seqs; a commit that does not follow on (another process writing this
 * schema, or commits finishing out of order) waits in `early` or restarts the run, and
 * changesAfter falls back to the table whenever the ring cannot prove it has the next seq.
 */
export class ChangeRing {
  private ring: Change[] = [];
  /** Commits that arrived ahead of a gap; more than 64 of them restart the run. */
  private readonly early = new Map<number, Change[]>();

  /** Takes one commit's changes (in seq order). */
  remember(committed: Change[]): void {
    if (committed.length === 0) return;
    const last = this.ring[this.ring.length - 1];
    if (last && committed[0]!.seq <= last.seq) return;
    if (last && committed[0]!.seq !== last.seq + 1) {
      this.early.set(committed[0]!.seq, committed);
      if (this.early.size > 64) {
        this.ring = [];
        this.early.clear();
      }
      return;
    }
    for (const c of committed) this.ring.push(c);
    for (let next = this.early.get(this.ring[this.ring.length - 1]!.seq + 1); next; ) {
      this.early.delete(next[0]!.seq);
      for (const c of next) this.ring.push(c);
      next = this.early.get(this.ring[this.ring.length - 1]!.seq + 1);
    }
    if (this.ring.length > RING_MAX) this.ring = this.ring.slice(-RING_MAX / 2);
  }

  /** Up to limit changes after afterSeq, or undefined when the ring cannot prove it holds afterSeq + 1. */
  after(afterSeq: number, limit: number): Change[] | undefined {
    const first = this.ring[0];
    const last = this.ring[this.ring.length - 1];
    // the ring answers only when it holds afterSeq + 1 (it is contiguous, so the slice has no holes)
    if (first && last && first.seq <= afterSeq + 1 && afterSeq < last.seq) {
      const i = afterSeq + 1 - first.seq;
      return this.ring.slice(i, i + limit);
    }
    return undefined;
  }

  /** Forgets changes through throughSeq: the ring must not serve what the log no longer holds. */
  prune(throughSeq: number): void {
    this.ring = this.ring.filter((c) => c.seq > throughSeq);
  }
}
