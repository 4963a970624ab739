import { request } from 'undici';
import { type Clock, systemClock, type Timer } from '../../core/clock.ts';
import { hasCode } from '../../core/errors.ts';
import { shardmapErrors } from '../errors.ts';
import { type Kv, type KvEntry, type KvPutOptions, type KvWatch, validKey, validPrefix } from './kv.ts';
import { type KeptWatch, WATCH_RETRY_MS, WatchKeeper } from './watch-keeper.ts';

/** Options of the etcd adapter. */
export interface EtcdKvOptions {
  /** http://host:port of the etcd members, comma-separated. */
  url: string;
  /** Every key lives under `<bucket>/` (several clusters can share one etcd). */
  bucket: string;
  /** A write's bound (ms): an unanswered write is given up (never retried: it may have applied). */
  timeoutMs?: number;
  /** A read's bound (ms): an unanswered read is tried on the next member. */
  readTimeoutMs?: number;
  /**
   * How often the member in use is asked whether it still has a leader (ms; 0 = never). One
   * that does not answer within twice this is left for the next, and every watch moves with it:
   * a partition sends no RST, and a cut member keeps watch streams open with nothing on them.
   */
  checkMs?: number;
  /** Times the watch stall check (default: the system clock). */
  clock?: Clock;
}

/** What etcd's JSON gateway answers (int64 as strings; zero values left out). */
interface EtcdPair {
  key: string;
  value?: string;
  mod_revision?: string;
}
interface EtcdHeader {
  revision?: string;
}
interface EtcdEvent {
  type?: 'PUT' | 'DELETE';
  kv: EtcdPair;
}
interface WatchResult {
  header?: EtcdHeader;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: EtcdEvent[];
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');

/** The end of the range holding every key that starts with `prefix` (etcd's prefix idiom). */
function rangeEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  b[b.length - 1] = (b[b.length - 1] ?? 0) + 1;
  return b.toString('base64');
}

/**
 * The distributed-mode Kv on etcd (v3 API through its JSON gateway, /v3/...), for clusters that
 * need the control plane back within a lease after a partition: etcd's raft has pre-vote
 * (`--pre-vote`) and a configurable election timeout, where NATS 2.9's JetStream raft has neither
 * and left the Kv without writes for 4-14 s around every partition of a server's zone.
 *
 * Why not the etcd3 gRPC client: the lease keeper needs each call bounded and, when a member
 * does not answer, the next call sent to another member at once; a gRPC channel hides which
 * member it talks to and notices a silent one only by keepalive.
 */
export class EtcdKv implements Kv {
  private readonly keeper: WatchKeeper;
  private readonly members: string[];
  private current = 0;
  private closed = false;
  private readonly streams = new Set<AbortController>();
  /** Watches restarted after a stall, a cancel or an ended stream (for tests and the log). */
  restarts = 0;

  private constructor(
    opts: EtcdKvOptions,
    private readonly clock: Clock,
  ) {
    this.members = opts.url
      .split(',')
      .map((s) => s.trim().replace(/\/+$/, ''))
      .filter(Boolean);
    this.prefix = `${opts.bucket}/`;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.readTimeoutMs = opts.readTimeoutMs ?? Math.min(500, this.timeoutMs);
    this.keeper = new WatchKeeper(clock);
    const checkMs = opts.checkMs ?? 250;
    if (checkMs > 0 && this.members.length > 1)
      this.checkTimer = clock.setInterval(checkMs, () => void this.checkMember(checkMs * 2));
  }

  /** The liveness check: a cheap read with a leader required; on no answer, the next member. */
  private async checkMember(boundMs: number): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    const before = this.member();
    try {
      await this.call('check', '/v3/kv/range', { key: b64(`${this.prefix}_`), count_only: true }, boundMs);
    } catch {
      // call() moved to the next member: the watches follow
      if (this.member() !== before) this.keeper.restartAll();
    } finally {
      this.checking = false;
    }
  }
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly readTimeoutMs: number;
  private checking = false;
  private readonly checkTimer: Timer | undefined;

  /** Opens the adapter; ERR_FAILOVER_KV_UNAVAILABLE when no member answers. */
  static async open(opts: EtcdKvOptions): Promise<EtcdKv> {
    if (!/^https?:\/\//.test(opts.url.trim()))
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/etcd: "${opts.url}" is not http://host:port[,...]`);
    const kv = new EtcdKv(opts, opts.clock ?? systemClock);
    try {
      await kv.read('open', '/v3/kv/range', { key: b64(kv.prefix), range_end: rangeEnd(kv.prefix), count_only: true });
    } catch (e) {
      await kv.close();
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/etcd: cannot reach any member of ${opts.url}`, {
        cause: e,
      });
    }
    return kv;
  }

  private member(): string {
    return this.members[this.current % this.members.length]!;
  }

  /** The member in use looks dead: the next call goes to the next one. */
  private rotate(from: string): void {
    if (this.member() === from) this.current = (this.current + 1) % this.members.length;
  }

  /** One gateway call to the current member; on no answer, the next call tries another. */
  private async call<T>(what: string, path: string, body: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const member = this.member();
    try {
      const res = await request(`${member}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        // a member cut off from the majority answers at once ("no leader") instead of waiting
        headers: { 'content-type': 'application/json', 'grpc-metadata-hasleader': 'true' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        this.rotate(member);
        throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(
          `kv/etcd: ${what} at ${member}: ${res.statusCode} ${errorText(text)}`,
        );
      }
      return JSON.parse(text) as T;
    } catch (e) {
      if (hasCode(e, shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE)) throw e;
      this.rotate(member);
      throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/etcd: ${what} at ${member}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Reads are idempotent: one try per member. Writes are never retried (a timed-out one may have applied). */
  private async read<T>(what: string, path: string, body: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.call<T>(what, path, body, this.readTimeoutMs);
      } catch (e) {
        if (attempt >= this.members.length || this.closed) throw e;
      }
    }
  }

  async get(key: string): Promise<KvEntry | null> {
    check(key);
    const r = await this.read<{ kvs?: EtcdPair[] }>(`get ${key}`, '/v3/kv/range', { key: b64(this.prefix + key) });
    const kv = r.kvs?.[0];
    return kv ? { key, value: unb64(kv.value), revision: Number(kv.mod_revision) } : null;
  }

  async put(key: string, value: string, opts: KvPutOptions = {}): Promise<number> {
    check(key);
    const k = b64(this.prefix + key);
    const put = { key: k, value: b64(value) };
    let revision: number;
    if (opts.expect === undefined) {
      const r = await this.call<{ header?: EtcdHeader }>(`put ${key}`, '/v3/kv/put', put);
      revision = Number(r.header?.revision);
    } else {
      const r = await this.call<{ header?: EtcdHeader; succeeded?: boolean }>(`put ${key}`, '/v3/kv/txn', {
        compare: [compareAt(k, opts.expect)],
        success: [{ request_put: put }],
      });
      if (!r.succeeded)
        throw shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv/etcd: put ${key}: not at revision ${opts.expect}`);
      revision = Number(r.header?.revision);
    }
    this.keeper.expect(key, revision);
    return revision;
  }

  async delete(key: string, opts: KvPutOptions = {}): Promise<void> {
    check(key);
    const k = b64(this.prefix + key);
    if (opts.expect === undefined) {
      await this.call(`delete ${key}`, '/v3/kv/deleterange', { key: k });
      return;
    }
    if (opts.expect === 0) {
      if ((await this.get(key)) === null) return;
      throw shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv/etcd: delete ${key}: it exists, expected none`);
    }
    const r = await this.call<{ succeeded?: boolean }>(`delete ${key}`, '/v3/kv/txn', {
      compare: [compareAt(k, opts.expect)],
      success: [{ request_delete_range: { key: k } }],
    });
    if (!r.succeeded)
      throw shardmapErrors.ERR_FAILOVER_KV_CONFLICT(`kv/etcd: delete ${key}: not at revision ${opts.expect}`);
  }

  async keys(prefix: string): Promise<string[]> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad prefix "${prefix}"`);
    const p = this.prefix + prefix;
    const r = await this.read<{ kvs?: EtcdPair[] }>(`keys ${prefix}`, '/v3/kv/range', {
      key: b64(p),
      range_end: rangeEnd(p),
      keys_only: true,
    });
    return (r.kvs ?? []).map((kv: EtcdPair) => unb64(kv.key).slice(this.prefix.length)).sort();
  }

  async watch(prefix: string, listener: (e: KvEntry) => void): Promise<KvWatch> {
    if (!validPrefix(prefix)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad watch prefix "${prefix}"`);
    const p = this.prefix + prefix;
    // the store's revision now: the watch starts right after it, so nothing later is missed
    const head = await this.read<{ header?: EtcdHeader }>(`watch ${prefix}`, '/v3/kv/range', {
      key: b64(p),
      range_end: rangeEnd(p),
      count_only: true,
    });
    let stream: AbortController | undefined;
    const emit = (e: EtcdEvent) => {
      const revision = Number(e.kv.mod_revision);
      if (!this.keeper.deliver(w, revision)) return;
      const key = unb64(e.kv.key).slice(this.prefix.length);
      listener({ key, value: e.type === 'DELETE' ? null : unb64(e.kv.value), revision });
    };
    const w: KeptWatch = {
      prefix,
      delivered: Number(head.header?.revision ?? 0),
      unseen: undefined,
      stopped: false,
      restart: () => {
        if (w.stopped || this.closed) return;
        this.restarts++;
        w.unseen = undefined;
        stream?.abort();
        stream = undefined;
        const mine = new AbortController();
        stream = mine;
        void this.stream(p, w.delivered + 1, mine, emit, (compacted) => {
          if (stream !== mine || w.stopped) return;
          // compacted past what we delivered: hand over the current values, then go on from there
          const next = compacted ? this.catchUp(p, w, emit) : Promise.resolve();
          void next.finally(() =>
            this.clock.setTimer(WATCH_RETRY_MS, () => {
              if (stream === mine) w.restart();
            }),
          );
        });
      },
    };
    const first = new AbortController();
    stream = first;
    await new Promise<void>((resolve, reject) => {
      void this.stream(
        p,
        w.delivered + 1,
        first,
        emit,
        () => {
          if (stream === first) this.clock.setTimer(WATCH_RETRY_MS, () => stream === first && w.restart());
        },
        resolve,
      ).catch(reject);
    }).catch((e) => {
      first.abort();
      throw hasCode(e, shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE)
        ? e
        : shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`kv/etcd: watch ${prefix}: ${(e as Error).message}`, { cause: e });
    });
    this.keeper.add(w);
    return {
      stop: () => {
        this.keeper.remove(w);
        stream?.abort();
      },
    };
  }

  /** Delivers the current entries newer than what `w` delivered (after a compaction). */
  private async catchUp(p: string, w: KeptWatch, emit: (e: EtcdEvent) => void): Promise<void> {
    const r = await this.read<{ kvs?: EtcdPair[] }>('catch up', '/v3/kv/range', {
      key: b64(p),
      range_end: rangeEnd(p),
    });
    const fresh = (r.kvs ?? []).filter((kv) => Number(kv.mod_revision) > w.delivered);
    fresh.sort((a, b) => Number(a.mod_revision) - Number(b.mod_revision));
    for (const kv of fresh) emit({ kv });
  }

  /**
   * One watch stream from `from` on the current member, read until it ends. `created` is called
   * once the member confirmed it; `ended(compacted)` when it ends other than by abort. The
   * stream asks for a member with a leader (`hasleader`): a member cut off from the majority
   * cancels it instead of holding it open with nothing on it.
   */
  private async stream(
    p: string,
    from: number,
    ctl: AbortController,
    emit: (e: EtcdEvent) => void,
    ended: (compacted: boolean) => void,
    created?: () => void,
  ): Promise<void> {
    const member = this.member();
    this.streams.add(ctl);
    let compacted = false;
    let confirmed = false;
    try {
      const res = await request(`${member}/v3/watch`, {
        method: 'POST',
        body: JSON.stringify({ create_request: { key: b64(p), range_end: rangeEnd(p), start_revision: String(from) } }),
        headers: { 'content-type': 'application/json', 'grpc-metadata-hasleader': 'true' },
        headersTimeout: this.timeoutMs,
        bodyTimeout: 0,
        signal: ctl.signal,
      });
      if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${errorText(await res.body.text())}`);
      let buf = '';
      const confirmTimer = this.clock.setTimer(this.timeoutMs, () => {
        if (!confirmed) ctl.abort();
      });
      for await (const chunk of res.body) {
        buf += chunk.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line) as { result?: WatchResult; error?: unknown };
          const r = msg.result;
          if (!r) throw new Error(`watch error: ${line.slice(0, 200)}`);
          if (r.created && !confirmed) {
            confirmed = true;
            confirmTimer.cancel();
            created?.();
          }
          for (const e of r.events ?? []) emit(e);
          if (r.canceled) {
            compacted = Number(r.compact_revision ?? 0) > 0;
            throw new Error(`watch canceled: ${r.cancel_reason ?? (compacted ? 'compacted' : 'no leader')}`);
          }
        }
      }
      confirmTimer.cancel();
      throw new Error('watch stream ended');
    } catch (e) {
      if (!confirmed) {
        this.rotate(member);
        if (created) throw e;
      } else if (!ctl.signal.aborted) this.rotate(member);
      if (!ctl.signal.aborted) ended(compacted);
    } finally {
      this.streams.delete(ctl);
    }
  }

  /**
   * The lease keeper calls this when a renewal goes unanswered: the next call goes to another
   * member, and every watch moves there too (a member cut off from the majority serves them
   * nothing).
   */
  async reconnect(): Promise<void> {
    this.current = (this.current + 1) % this.members.length;
    this.keeper.restartAll();
  }

  /** Deletes every key of the bucket (tests clean up with it). */
  async destroy(): Promise<void> {
    await this.call('destroy', '/v3/kv/deleterange', { key: b64(this.prefix), range_end: rangeEnd(this.prefix) });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.checkTimer?.cancel();
    this.keeper.close();
    for (const s of this.streams) s.abort();
    this.streams.clear();
  }
}

/** The compare of a compare-and-set at revision `expect` (0: the key must not exist). */
function compareAt(key: string, expect: number): Record<string, string> {
  return expect === 0
    ? { target: 'CREATE', key, create_revision: '0', result: 'EQUAL' }
    : { target: 'MOD', key, mod_revision: String(expect), result: 'EQUAL' };
}

function errorText(body: string): string {
  try {
    const j = JSON.parse(body) as { message?: string; error?: string };
    return j.message ?? j.error ?? body.slice(0, 200);
  } catch {
    return body.slice(0, 200);
  }
}

function check(key: string): void {
  if (!validKey(key)) throw shardmapErrors.ERR_FAILOVER_KV_BAD_KEY(`kv: bad key "${key}"`);
}
