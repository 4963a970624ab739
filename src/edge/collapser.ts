/**
 * Request collapsing (Varnish's busy object and waiting list): the first miss for a key
 * leads the fetch; later ones wait for its outcome. Waiters time out on their own clock timer,
 * a failed fetch rejects every waiter, and the entry is removed before waiters wake, so the
 * next request after a failure starts a fresh fetch.
 */
import type { Clock } from '../core/clock.ts';
import { edgeErrors } from './errors.ts';

interface Busy<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
  waiters: number;
}

/** A lead handle: exactly one of done/fail must be called. */
export interface Lead<T> {
  done(v: T): void;
  fail(e: unknown): void;
}

export class Collapser<T> {
  private readonly busy = new Map<string, Busy<T>>();

  constructor(private readonly clock: Clock) {}

  /** Is a fetch for key in flight? */
  isBusy(key: string): boolean {
    return this.busy.has(key);
  }

  /** Waiters currently queued on key. */
  waiters(key: string): number {
    return this.busy.get(key)?.waiters ?? 0;
  }

  /** Becomes the leader for key; undefined if someone already leads it. */
  lead(key: string): Lead<T> | undefined {
    if (this.busy.has(key)) return undefined;
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // nobody may be waiting when the fetch fails; don't turn that into an unhandled rejection
    promise.catch(() => {});
    const b: Busy<T> = { promise, resolve, reject, waiters: 0 };
    this.busy.set(key, b);
    const settle = () => {
      if (this.busy.get(key) === b) this.busy.delete(key);
    };
    return {
      done: (v) => {
        settle();
        resolve(v);
      },
      fail: (e) => {
        settle();
        reject(e);
      },
    };
  }

  /**
   * Waits on the fetch in flight for key; rejects with ERR_EDGE_COLLAPSE_TIMEOUT after
   * timeoutMs. Returns undefined if nothing is in flight.
   */
  wait(key: string, timeoutMs: number): Promise<T> | undefined {
    const b = this.busy.get(key);
    if (!b) return undefined;
    b.waiters++;
    return new Promise<T>((resolve, reject) => {
      const t = this.clock.setTimer(timeoutMs, () => {
        b.waiters--;
        reject(edgeErrors.ERR_EDGE_COLLAPSE_TIMEOUT(`edge/collapse: waited ${timeoutMs} ms for ${key}`));
      });
      b.promise.then(
        (v) => {
          t.cancel();
          resolve(v);
        },
        (e) => {
          t.cancel();
          reject(e);
        },
      );
    });
  }
}
