import {
  AckPolicy,
  type ConsumerMessages,
  connect,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  nanos,
  StorageType,
} from 'nats';
import type { Clock } from '../core/clock.ts';
import { NATS_LIVENESS } from '../core/nats-liveness.ts';
import type { RecordState } from '../store/index.ts';
import type { DigestPeer } from './anti-entropy.ts';
import { replicationErrors } from './errors.ts';
import type { Applied, BatchHandler, Log, LogBatch, LogSubscription } from './log.ts';

export interface JetStreamLogOptions {
  /** NATS servers, e.g. '127.0.0.1:4222'. */
  servers: string | string[];
  /** Stream and subject prefix: stream `<prefix>_<zone>`, subject `<prefix>.<zone>`. */
  prefix?: string;
  /** Copies of each stream this creates (JetStream replicas; default 1). */
  replicas?: number;
  /** Stream storage: 'file' (default, survives a server restart) or 'memory'. */
  storage?: 'file' | 'memory';
  clock: Clock;
  /**
   * How long a stream keeps batches (ms; default 7 days). A zone down for longer misses
   * some; its cursor then jumps (a gap) and anti-entropy repairs the records.
   */
  maxAgeMs?: number;
  /** Called with a decode failure or a handler retry, for metrics; never throws. */
  onError?: (e: unknown) => void;
  /**
   * Largest message this log sends (bytes); default the server's max_payload (1 MB unless
   * configured). Batches and anti-entropy replies above it are split.
   */
  maxPayloadBytes?: number;
}

/** Room left in every message for the JSON envelope around the items and the NATS headers. */
const ENVELOPE = 4096;
/** Decoded batches kept for the other local destinations of the same message. */
const DECODED_KEPT = 64;
/** Room for a change's fields besides its value and key (seq, shard, vector, time, …). */
const CHANGE_FIELDS = 4096;

/**
 * Splits items into consecutive pages whose JSON stays within `budget` bytes (an item that is
 * alone over budget still gets a page of its own; the caller decides what to do with it).
 */
export function pages<T>(items: readonly T[], budget: number): T[][] {
  const out: T[][] = [];
  let page: T[] = [];
  let size = 2;
  for (const it of items) {
    const n = Buffer.byteLength(JSON.stringify(it)) + 1;
    if (page.length > 0 && size + n > budget) {
      out.push(page);
      page = [];
      size = 2;
    }
    page.push(it);
    size += n;
  }
  if (page.length > 0 || out.length === 0) out.push(page);
  return out;
}

/**
 * The distributed log: a JetStream stream per origin zone (file storage, de-duplicated by
 * message id `origin:from-to`), consumed by each other zone through a durable consumer
 * named after it. One message carries a whole batch of changes (PEERS.md: one message per
 * record tops out near 10k msgs/s on one publisher).
 */
/**
 * How long a delivered batch may go unacknowledged before JetStream redelivers it. Short, so
 * that batches a closed subscription had been handed (a restart, a resubscribe) come back
 * within seconds; a handler that takes longer keeps its batch with `working()` heartbeats.
 * Redelivery is safe: applies are idempotent by origin sequence.
 */
const ACK_WAIT_MS = 2000;

export class JetStreamLog implements Log {
  readonly kind = 'jetstream' as const;
  private readonly streams = new Set<string>();
  private readonly subs = new Set<{ stop(): void }>();
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly opts: JetStreamLogOptions,
    private readonly prefix: string,
  ) {}

  /** Connects to NATS; fails with ERR_REPL_LOG_UNAVAILABLE when it cannot. */
  static async connect(opts: JetStreamLogOptions): Promise<JetStreamLog> {
    let nc: NatsConnection;
    try {
      // noAsyncTraces: nats.js otherwise captures two stack traces per request (every publish
      // is one), ~7 % of the shipping process's CPU at 5k writes/s; our errors name the batch
      nc = await connect({
        servers: opts.servers,
        // each connection attempt bounded at 2 s, as the control Kv's (nats.js: 20 s): an attempt
        // made while the link is cut sends a SYN nobody answers, retried by the kernel 1, 3, 7,
        // 15 s later, and after the heal the zone stayed off the log until then — most of the
        // write recovery time (10–20 s) of the lab's partition drills
        timeout: 2000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        noAsyncTraces: true,
        ...NATS_LIVENESS,
      });
    } catch (e) {
      throw replicationErrors.ERR_REPL_LOG_UNAVAILABLE(
        `cannot reach NATS at ${String(opts.servers)} (${(e as Error).message})`,
        { cause: e },
      );
    }
    const jsm = await nc.jetstreamManager();
    return new JetStreamLog(nc, jsm, nc.jetstream(), opts, opts.prefix ?? 'MZ');
  }

  /** Stream name of an origin zone. */
  streamOf(origin: string): string {
    return `${this.prefix}_${origin}`;
  }

  private subjectOf(origin: string): string {
    return `${this.prefix}.${origin}`;
  }

  private async ensureStream(origin: string): Promise<void> {
    const name = this.streamOf(origin);
    if (this.streams.has(name)) return;
    try {
      await this.jsm.streams.info(name);
    } catch {
      await this.jsm.streams.add({
        name,
        subjects: [this.subjectOf(origin)],
        storage: this.opts.storage === 'memory' ? StorageType.Memory : StorageType.File,
        num_replicas: this.opts.replicas ?? 1,
        duplicate_window: nanos(120_000),
        max_age: nanos(this.opts.maxAgeMs ?? 7 * 86_400_000),
      });
    }
    this.streams.add(name);
  }

  /**
   * The largest record value (JSON plus key) one change may carry and still travel alone in a
   * message: the payload less the batch envelope and a change's other fields.
   */
  maxValueBytes(): number {
    return this.maxPayload() - ENVELOPE - CHANGE_FIELDS;
  }

  /** The largest message this log sends, in bytes. */
  maxPayload(): number {
    return this.opts.maxPayloadBytes ?? this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /**
   * Publishes a batch as one message, or — when its JSON would exceed the maximum payload — as
   * consecutive smaller batches that cover the same seqs (each with its own message id, so a
   * re-shipped batch with the same boundaries is still de-duplicated).
   */
  async append(batch: LogBatch): Promise<void> {
    if (this.closed) throw replicationErrors.ERR_REPL_LOG_CLOSED('JetStream log is closed');
    await this.ensureStream(batch.origin);
    const data = Buffer.from(JSON.stringify(batch));
    if (data.length > this.maxPayload() - ENVELOPE) {
      const n = batch.changes.length;
      if (n <= 1)
        throw replicationErrors.ERR_REPL_TOO_LARGE(
          `change ${batch.origin}:${batch.from} is ${data.length} bytes, over the log's ${this.maxPayload()}-byte messages`,
        );
      const mid = Math.floor(n / 2);
      const cut = batch.changes[mid]!.seq;
      await this.append({ ...batch, to: cut - 1, changes: batch.changes.slice(0, mid) });
      await this.append({ ...batch, from: cut, changes: batch.changes.slice(mid) });
      return;
    }
    await this.js.publish(this.subjectOf(batch.origin), data, {
      msgID: `${batch.origin}:${batch.from}-${batch.to}`,
    });
  }

  async subscribe(origin: string, dest: string, afterSeq: number, handler: BatchHandler): Promise<LogSubscription> {
    if (this.closed) throw replicationErrors.ERR_REPL_LOG_CLOSED('JetStream log is closed');
    await this.ensureStream(origin);
    const stream = this.streamOf(origin);
    const config = {
      durable_name: dest,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ACK_WAIT_MS),
      max_ack_pending: 10_000,
    };
    let info: Awaited<ReturnType<typeof this.jsm.consumers.info>> | undefined;
    try {
      info = await this.jsm.consumers.info(stream, dest);
    } catch {
      await this.jsm.consumers.add(stream, { ...config, deliver_policy: DeliverPolicy.All });
    }
    if (info && info.num_ack_pending > 0) {
      // An earlier subscription was handed batches it never finished (a crash, a close while
      // they sat in its buffer). JetStream would hand them out again only after the ack wait,
      // and newer batches first — the applier would take a newer batch, then skip the older
      // ones as already applied. Start the consumer again right after the last batch finished
      // (acks go one at a time, in order, so the ack floor is exactly that).
      await this.jsm.consumers.delete(stream, dest);
      await this.jsm.consumers.add(stream, {
        ...config,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: info.ack_floor.stream_seq + 1,
      });
    } else if (info && info.config.ack_wait !== nanos(ACK_WAIT_MS))
      // consumers made before the ack wait was shortened get the short one too
      await this.jsm.consumers.update(stream, dest, { ack_wait: nanos(ACK_WAIT_MS) });
    const consumer = await this.js.consumers.get(stream, dest);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 256 });
    let stopped = false;
    // batches applied but not durable yet (see Applied): acknowledged in order once they are,
    // kept alive meanwhile (the ack wait is short); after a failed one, none is acknowledged
    const held = new Set<JsMsg>();
    let acks: Promise<void> = Promise.resolve();
    let ackBroken = false;
    const keepHeld = this.opts.clock.setInterval(ACK_WAIT_MS / 2, () => {
      for (const m of held) m.working();
    });
    const stop = () => {
      stopped = true;
      keepHeld.cancel();
      messages.stop();
    };
    this.subs.add({ stop });
    const loop = (async () => {
      for await (const m of messages) {
        let batch: LogBatch;
        try {
          batch = this.decode(stream, m);
        } catch (e) {
          this.opts.onError?.(replicationErrors.ERR_REPL_BAD_BATCH(`undecodable batch on ${stream}`, { cause: e }));
          m.term();
          continue;
        }
        let applied: Applied | undefined;
        if (batch.to > afterSeq) {
          // the ack wait is short (a batch delivered to a subscription that then closed comes
          // back in seconds, not half a minute): say "still working" while this one is handled
          const alive = this.opts.clock.setInterval(ACK_WAIT_MS / 2, () => m.working());
          try {
            // retry in place until it applies: acking out of order would break per-origin order
            for (;;) {
              if (stopped) return;
              try {
                applied = (await handler(batch)) ?? undefined;
                break;
              } catch (e) {
                this.opts.onError?.(e);
                await this.opts.clock.sleep(200);
              }
            }
          } finally {
            alive.cancel();
          }
        }
        if (!applied && held.size === 0) {
          if (!ackBroken) m.ack();
          continue;
        }
        held.add(m);
        const durable = applied?.durable ?? Promise.resolve();
        acks = acks.then(
          () =>
            durable.then(
              () => {
                held.delete(m);
                if (!ackBroken) m.ack();
              },
              (e: unknown) => {
                ackBroken = true;
                held.clear();
                this.opts.onError?.(e);
              },
            ),
          () => {},
        );
      }
    })();
    return {
      close: async () => {
        stop();
        await loop.catch(() => {});
      },
    };
  }

  /**
   * Batches decoded lately, by message (stream, sequence and the server's timestamp, so a stream
   * deleted and made again never hands back an old batch). The zones of one process consume
   * each message once per destination (a durable consumer each) and share one decoded batch —
   * as the in-process log shares its change objects — instead of parsing it once per zone.
   * Handlers treat batches as read-only.
   */
  private readonly decoded = new Map<string, LogBatch>();

  private decode(stream: string, m: JsMsg): LogBatch {
    const k = `${stream}:${m.seq}:${m.info.timestampNanos}:${m.data.length}`;
    let b = this.decoded.get(k);
    if (!b) {
      b = JSON.parse(Buffer.from(m.data).toString('utf8')) as LogBatch;
      this.decoded.set(k, b);
      if (this.decoded.size > DECODED_KEPT) this.decoded.delete(this.decoded.keys().next().value as string);
    }
    return b;
  }

  /** Stream seq → batch `to`, so repeated lag queries don't refetch the same message. */
  private readonly toBySeq = new Map<string, { seq: number; to: number }>();

  async ackedUpTo(origin: string, dest: string): Promise<number | undefined> {
    const stream = this.streamOf(origin);
    const k = `${origin}|${dest}`;
    try {
      const info = await this.jsm.consumers.info(stream, dest);
      // a consumer started again after a given message (see subscribe) reports an ack floor
      // of 0 until its first ack: the message before its start was finished all the same
      const seq = Math.max(info.ack_floor.stream_seq, (info.config.opt_start_seq ?? 1) - 1);
      if (!seq) return 0;
      const cached = this.toBySeq.get(k);
      if (cached?.seq === seq) return cached.to;
      const m = await this.jsm.streams.getMessage(stream, { seq });
      const to = (JSON.parse(Buffer.from(m.data).toString('utf8')) as LogBatch).to;
      this.toBySeq.set(k, { seq, to });
      return to;
    } catch (e) {
      // no such stream or consumer yet: the destination has applied nothing from here
      if ((e as { api_error?: { code?: number } }).api_error?.code === 404) return 0;
      // unreadable now (a leaderless consumer answers 503 for seconds after a NATS server
      // dies): the last floor read, which only grows, rather than 0 — read as 0 every record
      // ever shipped looked unapplied and held planned moves until their lag timeout
      return this.toBySeq.get(k)?.to;
    }
  }

  /**
   * Serves a local zone's anti-entropy side over NATS request/reply
   * (`<prefix>.ae.<zone>.digests|shard|repair`), so zones in other processes can compare
   * digests with it and repair both ways. Returns a function that stops serving.
   */
  serveDigests(peer: DigestPeer): () => void {
    const budget = () => this.maxPayload() - ENVELOPE;
    // digests and a shard's records are answered a page at a time ({ offset } → { items, next }),
    // so no reply exceeds the maximum payload however big the shard (offsets index the sorted
    // list; a record written between pages may be missed or sent twice — the next pass sees it)
    const page = <T>(all: readonly T[], offset: number) => {
      const rest = all.slice(Math.max(0, offset));
      const first = pages(rest, budget())[0]!;
      const next = offset + first.length < all.length ? offset + first.length : null;
      return { items: first, next };
    };
    const sub = this.nc.subscribe(`${this.prefix}.ae.${peer.zone}.*`, {
      callback: (err, m) => {
        if (err) return;
        const op = m.subject.slice(m.subject.lastIndexOf('.') + 1);
        const reply = (v: unknown) => {
          const data = Buffer.from(JSON.stringify(v));
          if (data.length > this.maxPayload())
            throw replicationErrors.ERR_REPL_TOO_LARGE(`anti-entropy ${op} reply of ${data.length} bytes`);
          m.respond(data);
        };
        const fail = (e: unknown) =>
          reply({ error: (e as { code?: string }).code ?? replicationErrors.ERR_REPL_BAD_BATCH.code });
        const run = (p: Promise<unknown>) => void p.then(reply).catch(fail);
        try {
          const arg = m.data.length ? JSON.parse(Buffer.from(m.data).toString('utf8')) : undefined;
          const offset = Number(arg?.offset ?? 0) || 0;
          if (op === 'digests') run(peer.digests().then((d) => page([...d], offset)));
          else if (op === 'shard') run(peer.shardRecords(Number(arg?.shard)).then((r) => page(r, offset)));
          else if (op === 'repair') run(peer.repair(arg as RecordState[]));
        } catch (e) {
          fail(e);
        }
      },
    });
    this.subs.add({ stop: () => sub.unsubscribe() });
    return () => sub.unsubscribe();
  }

  /** A zone served elsewhere by serveDigests, as a DigestPeer. */
  remotePeer(zone: string, timeoutMs = 10_000): DigestPeer {
    const ask = async (op: string, arg?: unknown): Promise<unknown> => {
      const m = await this.nc.request(
        `${this.prefix}.ae.${zone}.${op}`,
        arg === undefined ? undefined : Buffer.from(JSON.stringify(arg)),
        { timeout: timeoutMs },
      );
      const v = JSON.parse(Buffer.from(m.data).toString('utf8'));
      if (v && typeof v === 'object' && !Array.isArray(v) && 'error' in v)
        throw replicationErrors.ERR_REPL_LOG_UNAVAILABLE(`anti-entropy ${op} at ${zone} failed: ${String(v.error)}`);
      return v;
    };
    const all = async <T>(op: string, arg: object): Promise<T[]> => {
      const out: T[] = [];
      for (let offset: number | null = 0; offset !== null; ) {
        const r = (await ask(op, { ...arg, offset })) as { items: T[]; next: number | null };
        for (const x of r.items) out.push(x);
        offset = r.next;
      }
      return out;
    };
    return {
      zone,
      digests: async () => new Map(await all<[number, string]>('digests', {})),
      shardRecords: async (shard) => all<RecordState>('shard', { shard }),
      repair: async (states) => {
        // one request per page of states, each within the maximum payload
        let n = 0;
        for (const p of pages(states, this.maxPayload() - ENVELOPE))
          if (p.length) n += (await ask('repair', p)) as number;
        return n;
      },
    };
  }

  /** Deletes the streams this log created or used (tests clean up with it). */
  async deleteStreams(origins: readonly string[]): Promise<void> {
    for (const o of origins) {
      await this.jsm.streams.delete(this.streamOf(o)).catch(() => false);
      // made again on the next append or subscribe
      this.streams.delete(this.streamOf(o));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.stop();
    await this.nc.drain().catch(() => {});
  }
}
