import type { Clock, Timer } from '../core/clock.ts';
import { retryUntil } from '../core/deadline.ts';
import type { Logger } from '../core/logger.ts';
import type { ApplyResult, Store } from '../store/index.ts';
import type { Applied, Log, LogBatch, LogSubscription } from './log.ts';

/** Callbacks a replicator reports through (metrics, benchmarks, tests). */
export interface ReplicatorEvents {
  shipped?(zone: string, batch: LogBatch): void;
  applied?(origin: string, dest: string, batch: LogBatch, result: ApplyResult): void;
  /** A batch started after the cursor + 1: batches were lost; anti-entropy repairs the records. */
  gap?(origin: string, dest: string, cursor: number, from: number): void;
  error?(zone: string, e: unknown): void;
}

export interface ZoneReplicatorOptions {
  zone: string;
  store: Store;
  log: Log;
  /** The other zones (origins this zone applies, destinations its log reaches through the Log). */
  peers: readonly string[];
  clock: Clock;
  logger?: Logger;
  /** Most changes per log batch. */
  batchMax?: number;
  /** How often the shipper looks for writes nobody announced with notify() (ms). */
  pollMs?: number;
  events?: ReplicatorEvents;
}

/** Shortest time between two writes of the shipped position (ms). */
const PERSIST_SHIPPED_MS = 100;

/**
 * One zone's replication: a shipper that moves its change log (outbox) into the Log in
 * batches, and one applier per other zone that applies that zone's batches to the local
 * store exactly once (the store skips seqs at or below its cursor and moves the cursor in
 * the same transaction). Applied changes never enter this zone's own change log, so a
 * change never comes back to its origin (loop prevention).
 */
export class ZoneReplicator {
  readonly zone: string;
  private shipping: Promise<void> | undefined;
  private again = false;
  private shippedSeq = -1;
  private poll: Timer | undefined;
  private unlisten: (() => void) | undefined;
  /** The shipped position persisted last, the write of it in flight, and the next one waiting (see persistShipped). */
  private persistedSeq = -1;
  private persisting: Promise<void> | undefined;
  private persistTimer: Timer | undefined;
  private persistedAt = Number.NEGATIVE_INFINITY;
  private readonly subs = new Map<string, LogSubscription>();
  private running = false;
  private readonly batchMax: number;
  /** Applied position per origin (mirrors the store's durable cursor). */
  private readonly cursors = new Map<string, number>();

  constructor(private readonly opts: ZoneReplicatorOptions) {
    this.zone = opts.zone;
    this.batchMax = opts.batchMax ?? 500;
  }

  get store(): Store {
    return this.opts.store;
  }

  /** Starts shipping and applying (resuming from the durable shipped position and cursors). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { store, log, peers, zone } = this.opts;
    this.shippedSeq = await store.shipped();
    this.persistedSeq = this.shippedSeq;
    for (const origin of peers) {
      const cursor = await store.cursor(origin);
      this.cursors.set(origin, cursor);
      this.subs.set(origin, await log.subscribe(origin, zone, cursor, (b) => this.track(b)));
    }
    // ship on commit (a wake-up from the store); the timer is only a backstop for writes
    // nobody announced (another process writing the same PostgreSQL schema, a store without onCommit)
    this.unlisten = store.onCommit?.(() => this.notify());
    this.poll = this.opts.clock.setInterval(this.opts.pollMs ?? 50, () => this.notify());
    this.notify();
  }

  /** Stops shipping and applying; the durable positions stay in the store. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.poll?.cancel();
    this.persistTimer?.cancel();
    this.persistTimer = undefined;
    this.unlisten?.();
    this.unlisten = undefined;
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const s of subs) await s.close();
    // let an in-flight ship finish so close() of the store doesn't race it, then persist its position
    await this.shipping;
    await this.persisting;
    if (this.persistedSeq < this.shippedSeq)
      await this.opts.store.markShipped(this.shippedSeq).then(
        () => {
          this.persistedSeq = this.shippedSeq;
        },
        (e) => this.opts.events?.error?.(this.zone, e),
      );
  }

  /** Tells the shipper there are new writes (called after each write for low latency). */
  notify(): void {
    if (!this.running) return;
    if (this.shipping) {
      this.again = true;
      return;
    }
    const p: Promise<void> = this.ship().finally(() => {
      if (this.shipping === p) this.shipping = undefined;
      if (this.again && this.running) this.notify();
    });
    this.shipping = p;
  }

  /** The highest seq handed to the log. */
  shipped(): number {
    return this.shippedSeq;
  }

  private async ship(): Promise<void> {
    const { store, log, zone, clock } = this.opts;
    try {
      for (;;) {
        this.again = false;
        if (!this.running) break;
        const changes = await store.changesAfter(this.shippedSeq, this.batchMax);
        if (changes.length === 0) break;
        const batch: LogBatch = {
          origin: zone,
          from: changes[0]!.seq,
          to: changes[changes.length - 1]!.seq,
          changes: changes.filter((c) => c.cls !== 'local'),
          sentAt: clock.wallTime(),
        };
        await log.append(batch);
        if (this.shipFailures) {
          this.opts.logger?.info({ zone, attempts: this.shipFailures + 1 }, 'replication: shipping again');
          this.shipFailures = 0;
        }
        this.shippedSeq = batch.to;
        this.persistShipped();
        this.opts.events?.shipped?.(zone, batch);
        if (changes.length < this.batchMax && !this.again) break;
      }
    } catch (e) {
      // the poll timer retries; the shipped position only moves after the log has the batch.
      // Counted every time (mz_replication_errors_total), logged once per streak: a log that is
      // away for a minute would otherwise write a warning every poll
      this.opts.events?.error?.(zone, e);
      if (this.shipFailures++ === 0)
        this.opts.logger?.warn({ err: e, zone }, 'replication: shipping failed; will retry');
    }
  }

  /** Failed shipping attempts since the last batch the log took. */
  private shipFailures = 0;

  /**
   * Persists the shipped position off the shipping path: one write in flight at a time, always
   * of the newest position (a PostgreSQL commit per batch would otherwise hold up the next
   * batch), and at most one every PERSIST_SHIPPED_MS (a commit per batch, at the moment the
   * other zones' applies of that batch commit, cost them ~0.4 ms of lag p50 at 5k writes/s on
   * PostgreSQL). The persisted position may trail the log by the batches of that interval;
   * after a crash those are shipped again and the destinations skip them (exactly-once apply
   * by seq). stop() persists the last position.
   */
  private persistShipped(): void {
    if (this.persisting || this.persistTimer || this.persistedSeq >= this.shippedSeq) return;
    const { clock } = this.opts;
    const wait = this.persistedAt + PERSIST_SHIPPED_MS - clock.now();
    if (wait > 0) {
      this.persistTimer = clock.setTimer(wait, () => {
        this.persistTimer = undefined;
        if (this.running) this.persistShipped();
      });
      return;
    }
    this.persistedAt = clock.now();
    const seq = this.shippedSeq;
    this.persisting = this.opts.store.markShipped(seq).then(
      () => {
        this.persistedSeq = Math.max(this.persistedSeq, seq);
        this.persisting = undefined;
        if (this.running) this.persistShipped();
      },
      (e) => {
        this.persisting = undefined;
        this.opts.events?.error?.(this.zone, e);
      },
    );
  }

  /** Origins whose batches keep failing to apply: failed attempts since the last success. */
  private readonly failing = new Map<string, number>();

  private async applyBatch(b: LogBatch): Promise<Applied | undefined> {
    const { store, zone } = this.opts;
    const cursor = this.cursors.get(b.origin) ?? 0;
    if (b.to <= cursor) return undefined;
    if (b.from > cursor + 1) this.opts.events?.gap?.(b.origin, zone, cursor, b.from);
    let r: ApplyResult;
    try {
      r = await store.apply(b.origin, b.changes, b.to);
    } catch (e) {
      // the log hands the same batch again (a store that is down, a disk that is full):
      // counted every time (mz_replication_errors_total), logged once per streak
      const n = (this.failing.get(b.origin) ?? 0) + 1;
      this.failing.set(b.origin, n);
      this.opts.events?.error?.(zone, e);
      if (n === 1)
        this.opts.logger?.warn(
          { err: e, origin: b.origin, zone, from: b.from, to: b.to },
          'replication: applying a batch failed; will retry',
        );
      throw e;
    }
    const failed = this.failing.get(b.origin);
    if (failed) {
      this.failing.delete(b.origin);
      this.opts.logger?.info({ origin: b.origin, zone, attempts: failed + 1 }, 'replication: applying again');
    }
    this.cursors.set(b.origin, r.cursor);
    this.opts.events?.applied?.(b.origin, zone, b, r);
    if (!r.durable) return undefined;
    const durable = r.durable.catch((e: unknown) => {
      this.resubscribe(b.origin, e);
      throw e;
    });
    durable.catch(() => {}); // the log handles it; never an unhandled rejection meanwhile
    return { durable };
  }

  /** Origins being subscribed again. */
  private readonly resubscribing = new Set<string>();
  /** The apply in hand per origin. */
  private readonly applying = new Map<string, Promise<unknown>>();

  private track(b: LogBatch): Promise<Applied | undefined> {
    const p = this.applyBatch(b);
    this.applying.set(b.origin, p);
    return p;
  }

  /**
   * An apply could not be confirmed durable (the store's database restarted, say): it may be
   * lost, with its cursor. Subscribe again from the store's cursor; the log hands back every
   * batch it had not acknowledged.
   */
  private resubscribe(origin: string, cause: unknown): void {
    if (!this.running || this.resubscribing.has(origin)) return;
    this.resubscribing.add(origin);
    const { store, log, zone, clock } = this.opts;
    // one streak with the applies that fail in place: one warning, then one line when applying again
    const n = (this.failing.get(origin) ?? 0) + 1;
    this.failing.set(origin, n);
    this.opts.events?.error?.(zone, cause);
    if (n === 1)
      this.opts.logger?.warn(
        { err: cause, origin, zone, durable: false },
        'replication: applying a batch failed; will retry',
      );
    void (async () => {
      try {
        await this.subs.get(origin)?.close();
        this.subs.delete(origin);
        // the closed subscription's batch in hand finishes first: one apply at a time per origin
        await this.applying.get(origin)?.catch(() => {});
        await retryUntil(
          clock,
          () => this.running,
          async () => {
            // the lower of the two: below the store's when a crash lost applies (they come
            // again), below ours when an apply committed but its answer was lost (it comes
            // again, as a duplicate the store skips, and is reported applied like any other)
            const cursor = Math.min(this.cursors.get(origin) ?? 0, await store.cursor(origin));
            this.cursors.set(origin, cursor);
            this.subs.set(origin, await log.subscribe(origin, zone, cursor, (b) => this.track(b)));
          },
          (e) => this.opts.events?.error?.(zone, e),
        );
      } finally {
        this.resubscribing.delete(origin);
      }
    })();
  }
}
