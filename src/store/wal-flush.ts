import type pg from 'pg';
import type { Clock } from '../core/clock.ts';

/** `0/1D74780` → a number (LSNs stay far below 2^53 / 4096 on any real server). */
export function lsnToNumber(lsn: string): number {
  const [hi, lo] = lsn.split('/');
  return Number.parseInt(hi ?? '0', 16) * 2 ** 32 + Number.parseInt(lo ?? '0', 16);
}

export function numberToLsn(n: number): string {
  const hi = Math.floor(n / 2 ** 32);
  return `${hi.toString(16).toUpperCase()}/${(n - hi * 2 ** 32).toString(16).toUpperCase()}`;
}

/** How often the flush position is read while a commit waits for it (ms). */
const POLL_MS = 10;

interface Waiter {
  /** An LSN at or past the commit's end: the insert position read after the commit returned. */
  bound?: number;
  done: () => void;
  fail: (e: unknown) => void;
}

/**
 * Tells when commits made with `synchronous_commit = off` are durable: `committed()` (called
 * after a commit returned) resolves once the database's WAL is flushed past that commit. One
 * statement reads both positions: the insert position bounds every commit that returned before
 * it was sent, the flush position says which earlier bounds are on disk. While waits are open
 * it polls every POLL_MS; the WAL writer (or any synchronous commit) flushes within
 * `wal_writer_delay` (200 ms by default), usually far sooner under write traffic.
 *
 * It must read on the connection that made the commits: a crash ends that connection, so a
 * read that succeeds proves the server did not restart since the commit (a new connection
 * could reach a server that recovered without it and whose WAL has grown past its position).
 * Any failed read fails every open wait: their batches are applied again.
 */
export class WalFlushWatch {
  private waiting: Waiter[] = [];
  private polling = false;
  private closed = false;

  constructor(
    private readonly db: pg.Client,
    private readonly clock: Clock,
  ) {}

  committed(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('WAL flush watch closed'));
    return new Promise((done, fail) => {
      this.waiting.push({ done, fail });
      if (!this.polling) void this.poll();
    });
  }

  /** Fails every open wait (the connection is gone: their commits may not survive). */
  close(e: unknown = new Error('WAL flush watch closed')): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.fail(e);
  }

  private async poll(): Promise<void> {
    this.polling = true;
    try {
      while (this.waiting.length > 0 && !this.closed) {
        const fresh = this.waiting.filter((w) => w.bound === undefined);
        let ins: number;
        let flushed: number;
        try {
          const r = await this.db.query<{ ins: string; fl: string }>(
            'SELECT pg_current_wal_insert_lsn()::text AS ins, pg_current_wal_flush_lsn()::text AS fl',
          );
          ins = lsnToNumber(r.rows[0]!.ins);
          flushed = lsnToNumber(r.rows[0]!.fl);
        } catch (e) {
          this.close(e);
          return;
        }
        for (const w of fresh) w.bound = ins;
        const open: Waiter[] = [];
        for (const w of this.waiting) {
          if (w.bound !== undefined && w.bound <= flushed) w.done();
          else open.push(w);
        }
        this.waiting = open;
        if (open.length > 0) await this.clock.sleep(POLL_MS);
      }
    } finally {
      this.polling = false;
    }
  }
}
