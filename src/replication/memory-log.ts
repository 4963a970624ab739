import type { Clock, Timer } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { replicationErrors } from './errors.ts';
import type { BatchHandler, Log, LogBatch, LogSubscription } from './log.ts';

/** Simulated WAN between zones, applied on the receiving side (PEERS.md: delaying sends throttles badly). */
export interface WanOptions {
  /** One-way delay added to every batch (ms). */
  delayMs: number;
  /** Extra uniform random delay 0..jitterMs (ms); order per origin is kept regardless. */
  jitterMs: number;
  /** Probability 0..1 that a batch never reaches one destination (anti-entropy repairs it). */
  loss: number;
}

export interface MemoryLogOptions {
  clock: Clock;
  random: Random;
  wan?: Partial<WanOptions>;
}

interface Entry {
  batch: LogBatch;
  /** clock.now() when appended. */
  at: number;
}

interface Sub {
  origin: string;
  dest: string;
  afterSeq: number;
  handler: BatchHandler;
  next: number;
  /** Acknowledgements waiting for their batch to be durable, in order (see Applied). */
  acks: Promise<void>;
  /** A `durable` rejected: nothing later is acknowledged. */
  ackBroken: boolean;
  lastAt: number;
  timer: Timer | undefined;
  busy: boolean;
  closed: boolean;
}

/**
 * Batches an origin's stream holds before those every destination has finished are dropped.
 * Small, so the stream holds about what the destinations still need; a cut link's batches
 * stay until it heals, as a JetStream consumer's would. It was 2048: thousands of delivered
 * batches (and their changes) kept alive, a sawtooth of minutes under steady writes (issue 24).
 */
const TRIM_AT = 256;

const linkKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

/**
 * The in-process log (embedded mode): one in-memory stream per origin zone, delivered to
 * each destination after the configured WAN delay, jitter and loss. Links can be cut and
 * healed: a cut link holds batches back (like an unreachable JetStream consumer) and
 * delivers them after healing; loss drops a batch for one destination for good.
 */
export class MemoryLog implements Log {
  readonly kind = 'memory' as const;
  /** Per origin: entries from absolute index `base` on (older ones every destination has finished are trimmed). */
  private readonly streams = new Map<string, { base: number; entries: Entry[] }>();
  /** Destinations that ever subscribed to each origin (trimming waits for all of them). */
  private readonly dests = new Map<string, Set<string>>();
  private readonly subs = new Set<Sub>();
  private readonly cuts = new Set<string>();
  /** When each link was last healed: held-back batches still need the WAN delay to arrive. */
  private readonly healedAt = new Map<string, number>();
  /** Durable consumer positions: (origin|dest) → next stream index. */
  private readonly positions = new Map<string, number>();
  private wan: WanOptions;
  private closed = false;
  /** Batches dropped by simulated loss, per destination. */
  dropped = 0;
  delivered = 0;

  constructor(private readonly opts: MemoryLogOptions) {
    this.wan = { delayMs: 0, jitterMs: 0, loss: 0, ...opts.wan };
  }

  /** Changes the simulated WAN for batches delivered from now on. */
  setWan(wan: Partial<WanOptions>): void {
    this.wan = { ...this.wan, ...wan };
  }

  /** Cuts the link between two zones in both directions. */
  cut(a: string, b: string): void {
    this.cuts.add(linkKey(a, b));
  }

  /** Heals a cut link; held-back batches flow again. */
  heal(a: string, b: string): void {
    if (this.cuts.delete(linkKey(a, b))) this.healedAt.set(linkKey(a, b), this.opts.clock.now());
    for (const s of this.subs) if (linkKey(s.origin, s.dest) === linkKey(a, b)) this.pump(s);
  }

  /** Cuts every link of a zone (a zone failure or a full partition). */
  isolate(zone: string, zones: readonly string[]): void {
    for (const z of zones) if (z !== zone) this.cut(zone, z);
  }

  /** Heals every link of a zone. */
  rejoin(zone: string, zones: readonly string[]): void {
    for (const z of zones) if (z !== zone) this.heal(zone, z);
  }

  isCut(a: string, b: string): boolean {
    return this.cuts.has(linkKey(a, b));
  }

  /** Number of batches appended by origin. */
  length(origin: string): number {
    const s = this.streams.get(origin);
    return s ? s.base + s.entries.length : 0;
  }

  /** Batches of origin still held in memory. */
  retained(origin: string): number {
    return this.streams.get(origin)?.entries.length ?? 0;
  }

  async ackedUpTo(origin: string, dest: string): Promise<number | undefined> {
    const next = this.positions.get(`${origin}|${dest}`) ?? 0;
    const s = this.streams.get(origin);
    if (next === 0 || !s) return 0;
    return s.entries[next - 1 - s.base]?.batch.to ?? this.trimmedTo.get(origin) ?? 0;
  }

  async append(batch: LogBatch): Promise<void> {
    if (this.closed) throw replicationErrors.ERR_REPL_LOG_CLOSED('in-process log is closed');
    let s = this.streams.get(batch.origin);
    if (!s) {
      s = { base: 0, entries: [] };
      this.streams.set(batch.origin, s);
    }
    s.entries.push({ batch, at: this.opts.clock.now() });
    if (s.entries.length >= TRIM_AT) this.trim(batch.origin, s);
    for (const sub of this.subs) if (sub.origin === batch.origin) this.pump(sub);
  }

  /** `to` of the last trimmed batch per origin (what ackedUpTo answers for trimmed positions). */
  private readonly trimmedTo = new Map<string, number>();

  /** Drops the batches every destination that ever subscribed has finished (bounded memory). */
  private trim(origin: string, s: { base: number; entries: Entry[] }): void {
    const dests = this.dests.get(origin);
    if (!dests || dests.size === 0) return;
    let min = Number.POSITIVE_INFINITY;
    for (const d of dests) min = Math.min(min, this.positions.get(`${origin}|${d}`) ?? 0);
    for (const sub of this.subs) if (sub.origin === origin) min = Math.min(min, sub.next);
    const drop = Math.min(min - s.base, s.entries.length);
    if (drop <= 0) return;
    this.trimmedTo.set(origin, s.entries[drop - 1]!.batch.to);
    s.entries.splice(0, drop);
    s.base += drop;
  }

  async subscribe(origin: string, dest: string, afterSeq: number, handler: BatchHandler): Promise<LogSubscription> {
    if (this.closed) throw replicationErrors.ERR_REPL_LOG_CLOSED('in-process log is closed');
    let ds = this.dests.get(origin);
    if (!ds) {
      ds = new Set();
      this.dests.set(origin, ds);
    }
    ds.add(dest);
    const sub: Sub = {
      origin,
      dest,
      afterSeq,
      handler,
      next: this.positions.get(`${origin}|${dest}`) ?? 0,
      acks: Promise.resolve(),
      ackBroken: false,
      lastAt: 0,
      timer: undefined,
      busy: false,
      closed: false,
    };
    this.subs.add(sub);
    this.pump(sub);
    return {
      close: async () => {
        sub.closed = true;
        sub.timer?.cancel();
        this.subs.delete(sub);
      },
    };
  }

  private pump(sub: Sub): void {
    if (sub.closed || sub.busy || sub.timer || this.closed) return;
    if (this.isCut(sub.origin, sub.dest)) return;
    const stream = this.streams.get(sub.origin) ?? { base: 0, entries: [] };
    // a position older than the trimmed prefix (a destination that subscribed late) starts at the oldest kept
    if (sub.next < stream.base) sub.next = stream.base;
    let e: Entry | undefined;
    while (sub.next < stream.base + stream.entries.length) {
      const cand = stream.entries[sub.next - stream.base]!;
      if (cand.batch.to <= sub.afterSeq) {
        sub.next++;
        continue;
      }
      if (this.wan.loss > 0 && this.opts.random.next() < this.wan.loss) {
        this.dropped++;
        sub.next++;
        continue;
      }
      e = cand;
      break;
    }
    if (!e) return;
    const entry = e;
    const clock = this.opts.clock;
    const jitter = this.wan.jitterMs > 0 ? this.opts.random.next() * this.wan.jitterMs : 0;
    // keep order per origin: never deliver before the previous batch of this link
    const travel = this.wan.delayMs + jitter;
    const healed = this.healedAt.get(linkKey(sub.origin, sub.dest)) ?? Number.NEGATIVE_INFINITY;
    const at = Math.max(sub.lastAt, entry.at + travel, healed + travel);
    sub.lastAt = at;
    const fire = () => {
      sub.timer = undefined;
      if (sub.closed || this.closed || this.isCut(sub.origin, sub.dest)) return;
      sub.busy = true;
      sub.handler(entry.batch).then(
        (applied) => {
          sub.busy = false;
          sub.next++;
          this.delivered++;
          const done = sub.next;
          const ack = () => {
            if (!sub.ackBroken) this.positions.set(`${sub.origin}|${sub.dest}`, done);
          };
          if (applied) {
            sub.acks = sub.acks
              .then(() => applied.durable)
              .then(ack, () => {
                sub.ackBroken = true;
              });
          } else sub.acks = sub.acks.then(ack);
          this.pump(sub);
        },
        () => {
          // the handler failed (e.g. its store is closed): same batch again a little later
          sub.busy = false;
          sub.lastAt = clock.now() + 100;
          this.pump(sub);
        },
      );
    };
    const wait = at - clock.now();
    if (wait <= 0) {
      sub.timer = { cancel: () => {} };
      queueMicrotask(fire);
    } else sub.timer = clock.setTimer(wait, fire);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subs) {
      s.closed = true;
      s.timer?.cancel();
    }
    this.subs.clear();
  }
}
