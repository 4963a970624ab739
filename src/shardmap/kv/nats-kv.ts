import { connect, type KV, KvWatchInclude, type NatsConnection } from 'nats';
import { type Clock, systemClock } from '../../core/clock.ts';
import { hasCode } from '../../core/errors.ts';
import { NATS_LIVENESS } from '../../core/nats-liveness.ts';
import { shardmapErrors } from '../errors.ts';
import { type Kv, type KvEntry, type KvPutOptions, type KvWatch, validKey, validPrefix } from './kv.ts';
import { type KeptWatch, WATCH_RETRY_MS, WatchKeeper } from './watch-keeper.ts';

/** Options of the NATS JetStream KV adapter. */
export interface NatsKvOptions {
  /** nats://host:port (comma-separated for several servers). */
  url: string;
  bucket: string;
  /** Fail fast when the server is not there (ms). */
  timeoutMs?: number;
  /** Copies of a bucket this creates (JetStream replicas; default 1). */
  replicas?: number;
  /** Times the watch stall check (default: the system clock). */
  clock?: Clock;
}

const dec = new TextDecoder();

function wrap(e: unknown, what: string): unknown {
  const err = e as { code?: string; message?: string; api_error?: { err_code?: number } };
  // JetStream answers a failed CAS with "wrong last sequence" (10071)
  if (err?.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(err?.message ?? ''))
    return shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv/nats: ${what}: ${err.message}`, { cause: e });
  if (typeof err?.code === 'string' && /CONNECTION|TIMEOUT|503|DISCONNECT|CLOSED/i.test(err.code))
    return shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/nats: ${what}: ${err.message}`, { cause: e });
  return e;
}

/** The distributed-mode Kv: a JetStream KV bucket (`js.views.kv`), one value per key. */
export class NatsKv implements Kv {
  private readonly keeper: WatchKeeper;
  /** Watches restarted after a stall or an ended iterator (for tests and the log). */
  restarts = 0;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    readonly bucket: string,
    private readonly clock: Clock,
  ) {
    this.keeper = new WatchKeeper(clock);
  }

  /** Connects and opens (or creates) the bucket; ERR_FAILOVER_KV_UNAVAILABLE when unreachable. */
  static async open(opts: NatsKvOptions): Promise<NatsKv> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: opts.url.split(',').map((s) => s.trim().replace(/^nats:\/\//, '')),
        timeout: opts.timeoutMs ?? 2000,
        maxReconnectAttempts: -1,
        ...NATS_LIVENESS,
      });
    } catch (e) {
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/nats: cannot connect to ${opts.url}`, { cause: e });
    }
    try {
      // a short JetStream timeout per attempt: reads are tried READ_ATTEMPTS times (see readAgain).
      // allow_direct off: a direct get may be answered by any replica, and one still catching up
      // after a restart answers an old revision, so every compare-and-set built on it fails
      // ("wrong last sequence") until it catches up; reads through the stream leader are current.
      const kv = await nc
        .jetstream({ timeout: opts.timeoutMs ?? 2000 })
        .views.kv(opts.bucket, { history: 1, replicas: opts.replicas ?? 1, allow_direct: false });
      return new NatsKv(nc, kv, opts.bucket, opts.clock ?? systemClock);
    } catch (e) {
      await nc.close();
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/nats: cannot open bucket ${opts.bucket}`, { cause: e });
    }
  }

  async get(key: string): Promise<KvEntry | null> {
    check(key);
    return readAgain(`get ${key}`, async () => {
      const e = await this.kv.get(key);
      if (e?.operation !== 'PUT') return null;
      return { key, value: dec.decode(e.value), revision: e.revision };
    });
  }

  async put(key: string, value: string, opts: KvPutOptions = {}): Promise<number> {
    check(key);
    try {
      const revision =
        opts.expect === undefined
          ? await this.kv.put(key, value)
          : opts.expect === 0
            ? await this.kv.create(key, value)
            : await this.kv.update(key, value, opts.expect);
      this.keeper.expect(key, revision);
      return revision;
    } catch (e) {
      throw wrap(e, `put ${key}`);
    }
  }

  async delete(key: string, opts: KvPutOptions = {}): Promise<void> {
    check(key);
    if (opts.expect === undefined && !(await this.get(key))) return;
    try {
      if (opts.expect !== undefined) {
        const have = (await this.get(key))?.revision ?? 0;
        if (opts.expect === 0 && have === 0) return;
        if (have !== opts.expect)
          throw shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv/nats: ${key} is at ${have}, expected ${opts.expect}`);
        await this.kv.delete(key, { previousSeq: opts.expect });
      } else await this.kv.delete(key);
    } catch (e) {
      throw wrap(e, `delete ${key}`);
    }
  }

  async watch(prefix: string, listener: (e: KvEntry) => void): Promise<KvWatch> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad watch prefix "${prefix}"`);
    const key = prefix === '' ? '>' : `${prefix}>`;
    let iter: Awaited<ReturnType<KV['watch']>> | undefined;
    const w: KeptWatch = {
      prefix,
      delivered: 0,
      unseen: undefined,
      stopped: false,
      restart: () => {
        if (w.stopped) return;
        this.restarts++;
        w.unseen = undefined;
        const old = iter;
        iter = undefined;
        old?.stop();
        // resumed from the revision after the last delivered: nothing in between is missed
        void open({ resumeFromRevision: w.delivered + 1 }).catch(() => {
          this.clock.setTimer(WATCH_RETRY_MS, () => {
            if (!iter) w.restart();
          });
        });
      },
    };
    const open = async (from: { resumeFromRevision?: number }) => {
      const it = await this.kv.watch({
        key,
        ...(from.resumeFromRevision ? from : { include: KvWatchInclude.UpdatesOnly }),
      });
      if (w.stopped) return it.stop();
      iter = it;
      void (async () => {
        try {
          for await (const e of it) {
            if (!this.keeper.deliver(w, e.revision)) continue;
            listener({ key: e.key, value: e.operation === 'PUT' ? dec.decode(e.value) : null, revision: e.revision });
          }
        } catch {
          // the consumer or the connection failed: fall through to a restart
        }
        // ended without stop(): a watch that ends silently leaves its reader stale for good
        if (iter === it && !w.stopped && !this.nc.isClosed())
          this.clock.setTimer(WATCH_RETRY_MS, () => {
            if (iter === it) w.restart();
          });
      })();
    };
    try {
      await open({});
    } catch (e) {
      throw wrap(e, `watch ${prefix}`);
    }
    this.keeper.add(w);
    return {
      stop: () => {
        this.keeper.remove(w);
        iter?.stop();
      },
    };
  }

  async keys(prefix: string): Promise<string[]> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad prefix "${prefix}"`);
    return readAgain(`keys ${prefix}`, async () => {
      const out: string[] = [];
      const it = await this.kv.keys(prefix === '' ? '>' : `${prefix}>`);
      for await (const k of it) out.push(k);
      return out.sort();
    });
  }

  /** Deletes the whole bucket (tests clean up with it). */
  async destroy(): Promise<void> {
    await this.kv.destroy();
  }

  /**
   * A server cut off by a partition sends no RST: the client learns it only from unanswered
   * pings (NATS_LIVENESS, 4-6 s), longer than a lease. The lease keeper calls this when a
   * renewal goes unanswered, so the process moves to a live server within a renewal.
   */
  async reconnect(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.reconnect().catch(() => {});
  }

  async close(): Promise<void> {
    this.keeper.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Reads asked of a clustered bucket while one of its servers is dead can time out once and then
 * succeed (nats-server 2.9: the ordered consumer behind `keys` is placed on the dead peer,
 * nats-io/nats-server#7165). Reads are idempotent, so an unavailable read is tried twice more;
 * writes are never retried here (a timed-out CAS may have applied). */
async function readAgain<T>(what: string, read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (e) {
      const err = wrap(e, what);
      if (attempt >= READ_ATTEMPTS || !hasCode(err, shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE)) throw err;
    }
  }
}
const READ_ATTEMPTS = 3;

function check(key: string): void {
  if (!validKey(key)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad key "${key}"`);
}
