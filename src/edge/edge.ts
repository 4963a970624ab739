/**
 * One edge node: a node:http (or TLS + HTTP/2) server whose requests run through the filter
 * chain and then the cache state machine, over a memory + disk store, upstream pools and the
 * request collapser.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import { LRUCache } from 'lru-cache';
import { type Clock, systemClock } from '../core/clock.ts';
import { alsoListen, closeServer, forwardConnections, listenOn, listenOnHandle } from '../core/listen.ts';
import { type Logger, silentLogger } from '../core/logger.ts';
import { createMetrics, type Registry } from '../core/metrics.ts';
import { type Random, systemRandom } from '../core/random.ts';
import { handleAdmin, type PurgeOp } from './admin.ts';
import { primaryKey } from './cache-key.ts';
import { CacheStore } from './cache-store.ts';
import { makeMeta, materialize } from './cached-object.ts';
import { Collapser } from './collapser.ts';
import type { CollapseOutcome, EdgeCtx } from './context.ts';
import {
  ALLOWED_METHODS,
  cacheStatus,
  deliverDirect,
  deliverObject,
  deliverSynth,
  objectReply,
  rawErrorReply,
} from './deliver.ts';
import { edgeErrors } from './errors.ts';
import { Fetcher } from './fetcher.ts';
import { buildFilters, type EdgeConfig, type EdgeFilter, type FilterStatus } from './filters.ts';
import type { FreshnessOptions } from './freshness.ts';
import { ageHeader } from './freshness.ts';
import { type FsmDeps, runFsm, STATES } from './fsm.ts';
import { HostSet } from './host-filter.ts';
import { formatHttpDate } from './http-date.ts';
import { acceptLean, type LeanAnswer, type LeanHost, type LeanReply } from './lean-hits.ts';
import { type EdgeMetrics, edgeMetrics } from './metrics.ts';
import { RingStore } from './ring-store.ts';
import { type StreamFillDeps, streamFill } from './stream-fill.ts';
import { Upstreams } from './upstream.ts';
import type { ParsedHead } from './wire/request-head.ts';

/** Everything an edge needs; only zone, config and origin are required. */
export interface EdgeOptions {
  zone: string;
  config: EdgeConfig;
  /** Static origin URL (config.origin or the demo origin). */
  origin: string;
  /** Dynamic upstream URL (the zone's router or app); unset: dynamic calls go to the origin. */
  dynamic?: string;
  /** Admin token; overrides config.adminToken. */
  token?: string;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  metrics?: Registry;
  /** Zone → edge base URL, for the zone redirect. */
  zoneEdges?: () => ReadonlyMap<string, string>;
  /**
   * Sites served (see host-filter.ts); overrides config.hosts. Empty everywhere: every Host is
   * served (the runtime always passes the topology's names).
   */
  hosts?: readonly string[];
  /** Called once for every request the edge answers, on either path (the runtime's load meter). */
  onRequest?: () => void;
}

const EMPTY_ZONES: ReadonlyMap<string, string> = new Map();

/** A lean reply with what the edge counts once it is written. */
interface LeanServed extends LeanReply {
  outcome: string;
  counts: string[] | undefined;
}

/** An admin change every worker of an edge applies (purges, pushes, preloads). */
export type EdgeAdminOp =
  | { op: 'purge'; purge: PurgeOp }
  | { op: 'push'; host: string; target: string; headers: Record<string, string>; body: Buffer }
  | { op: 'preload'; host: string; target: string };

/** A running (or ready to listen) edge node. */
export class Edge {
  /**
   * Hands an admin change to the edge's other workers and resolves with what they purged once
   * every live one has applied it (set by the edge's workers; unset: one process, nothing to do).
   */
  relay: ((op: EdgeAdminOp) => Promise<number>) | undefined;
  readonly zone: string;
  readonly store: CacheStore;
  readonly upstreams: Upstreams;
  readonly collapser: Collapser<CollapseOutcome>;
  readonly server: Server | Http2SecureServer;
  readonly protocol: 'http' | 'https';
  private readonly disk: RingStore | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly m: EdgeMetrics;
  private readonly filters: EdgeFilter[];
  private readonly fetcher: Fetcher;
  /** Keys recently found uncacheable (pass without waiting on a busy fetch); 10 000: the hot uncacheable URLs, not every URL ever seen. */
  private readonly hitForPass = new LRUCache<string, number>({ max: 10_000 });
  private readonly fsm: FsmDeps;
  private readonly cfg: EdgeConfig;
  private readonly compress: boolean;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly tlsSockets = new Set<Socket>();
  private readonly hosts: HostSet;
  private readonly streamDeps: StreamFillDeps;
  private readonly onRequest: (() => void) | undefined;
  /** Hits served (both paths) and those served on the lean path, for stats and the bench. */
  private readonly hitCounts = { all: 0, lean: 0 };
  /** The filter chain the lean path runs (its counts are kept until the request is served). */
  private readonly leanFilters: EdgeFilter[];
  private readonly leanCounts: string[] = [];
  private leanDeciding = false;
  private readonly leanFsm: FsmDeps;
  /** Sockets the lean path owns (node:http tracks the ones handed to it). */
  private readonly leanSockets = new Set<Socket>();
  private dateCache = { second: -1, value: '' };

  constructor(opts: EdgeOptions) {
    const cfg = opts.config;
    this.cfg = cfg;
    this.zone = opts.zone;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.m = edgeMetrics(opts.metrics ?? createMetrics(), opts.zone);
    this.compress = cfg.compression.enabled;
    const freshness: FreshnessOptions = {
      heuristicFraction: cfg.cache.heuristicFraction,
      heuristicMaxSeconds: cfg.cache.heuristicMaxSeconds,
      negative404Seconds: cfg.cache.negative404Seconds,
      negative5xxSeconds: cfg.cache.negative5xxSeconds,
    };
    this.disk = cfg.disk.path ? RingStore.open({ path: cfg.disk.path, sizeBytes: cfg.disk.sizeBytes }) : undefined;
    this.store = new CacheStore({
      memoryBytes: cfg.cache.memoryBytes,
      disk: this.disk,
      minCompressBytes: cfg.compression.minBytes,
    });
    this.upstreams = new Upstreams(
      {
        origin: opts.origin,
        originPaths: cfg.originPaths,
        parents: cfg.parents,
        dynamic: opts.dynamic,
        pool: cfg.pool,
      },
      this.clock,
      opts.random ?? systemRandom(),
    );
    this.collapser = new Collapser(this.clock);
    this.streamDeps = {
      maxObjectBytes: cfg.cache.maxObjectBytes,
      minCompressBytes: cfg.compression.minBytes,
      store: (obj, replaces) => {
        if (replaces && replaces.id !== obj.id) this.store.remove(replaces.id);
        this.store.put(obj);
        this.m.setStore(this.store.size, this.store.memoryBytes);
      },
      finished: (bytes) => {
        if (bytes) this.m.bytes(bytes);
      },
    };
    this.fetcher = new Fetcher({
      clock: this.clock,
      store: this.store,
      upstreams: this.upstreams,
      freshness,
      maxObjectBytes: cfg.cache.maxObjectBytes,
      maxBodyBytes: cfg.limits.maxBodyBytes,
      minCompressBytes: cfg.compression.minBytes,
      compress: cfg.compression.enabled,
      observeOrigin: (t, s) => this.m.origin(t, s),
      // the response is not held for the other workers (RFC 9111 §4.4 asks no more than best effort)
      invalidated: (keys) =>
        void this.relayOp({ op: 'purge', purge: { keys, prefixes: [], tags: [], soft: true } }).catch((e: unknown) =>
          this.logger.warn({ err: e }, 'edge: invalidation not relayed to every worker'),
        ),
    });
    this.hosts = new HostSet(opts.hosts ?? cfg.hosts);
    const token = opts.token ?? (cfg.adminToken || '');
    const zoneEdges = opts.zoneEdges ?? (() => EMPTY_ZONES);
    this.filters = buildFilters(cfg, {
      zone: opts.zone,
      zoneEdges,
      count: (f, r) => this.m.filter(f, r),
      servesHost: (h) => this.hosts.has(h),
      admin: (ctx) =>
        handleAdmin(ctx, {
          token,
          maxObjectBytes: cfg.cache.maxObjectBytes,
          purge: async (op) => this.purgeLocal(op) + (await this.relayOp({ op: 'purge', purge: op })),
          push: async (host, target, headers, body) => {
            const key = this.push(host, target, headers, body);
            await this.relayOp({ op: 'push', host, target, headers, body });
            return key;
          },
          preload: async (host, target) => {
            const r = await this.preload(host, target);
            await this.relayOp({ op: 'preload', host, target });
            return r;
          },
          stats: () => this.stats(),
        }),
    });
    // the same filters for the lean path: it runs them only to decide whether it serves a
    // request, so their counts wait until it does (a request handed to node:http counts there)
    this.leanFilters = buildFilters(cfg, {
      zone: opts.zone,
      zoneEdges,
      // (a count made later — a background revalidation building its forwarded fields — is counted at once)
      count: (f, r) => (this.leanDeciding ? this.leanCounts.push(f, r) : this.m.filter(f, r)),
      servesHost: (h) => this.hosts.has(h),
      // never answered here: an admin call is not a hit, so it goes to node:http
      admin: () => Promise.resolve(),
    });
    this.onRequest = opts.onRequest;
    const hfpMs = cfg.cache.hitForPassSeconds * 1000;
    this.fsm = {
      now: () => this.clock.wallTime(),
      logger: this.logger,
      variants: (k) => this.store.lookup(k),
      isHitForPass: (k) => {
        const until = this.hitForPass.get(k);
        return until !== undefined && until > this.clock.now();
      },
      markHitForPass: (k) => {
        if (hfpMs > 0) this.hitForPass.set(k, this.clock.now() + hfpMs);
      },
      collapseLead: (k) => this.collapser.lead(k),
      collapseWait: (k) => this.collapser.wait(k, cfg.cache.collapseTimeoutMs),
      collapseTimeoutMs: cfg.cache.collapseTimeoutMs,
      fetchObject: (ctx, stale) => this.fetcher.fetchObject(ctx, stale, { stream: true }),
      backgroundRevalidate: (ctx, stale) => this.backgroundRevalidate(ctx, stale),
      pass: (ctx) => this.fetcher.pass(ctx),
      deliver: (ctx) => this.deliver(ctx),
      synth: (ctx) => deliverSynth(ctx, this.clock.wallTime()),
      countCollapsed: () => this.m.collapsed(),
    };
    this.leanFsm = { ...this.fsm, variants: (k) => this.store.lookup(k, false) };
    const handler = (req: IncomingMessage, res: ServerResponse) => this.handle(req, res);
    if (cfg.tls) {
      let cert: Buffer;
      let key: Buffer;
      try {
        cert = readFileSync(cfg.tls.cert);
        key = readFileSync(cfg.tls.key);
      } catch (e) {
        throw edgeErrors.ERR_EDGE_INVALID_OPTION(`edge/tls: cannot read cert or key: ${(e as Error).message}`, {
          cause: e,
        });
      }
      const server = createSecureServer({ cert, key, allowHTTP1: true, maxSessionMemory: 64 }, handler as never);
      // HTTP/2 sessions outlive server.close(); track them so close() can end them
      server.on('session', (sess: ServerHttp2Session) => {
        this.sessions.add(sess);
        sess.on('close', () => this.sessions.delete(sess));
      });
      server.on('secureConnection', (sock: Socket) => {
        this.tlsSockets.add(sock);
        sock.on('close', () => this.tlsSockets.delete(sock));
      });
      this.server = server;
      this.protocol = 'https';
    } else {
      this.server = createServer(
        { maxHeaderSize: cfg.limits.maxHeaderBytes, requestTimeout: 60_000, keepAliveTimeout: 65_000 },
        handler,
      );
      this.server.maxHeadersCount = cfg.limits.maxHeaders + 1;
      this.protocol = 'http';
      if (cfg.leanHits) this.takeConnections(this.server);
    }
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => this.refuseConnect(socket));
  }

  /** Binds the listener; resolves to the address it got. The edge always serves its own address. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const a = await listenOn(this.server as Server, host, port, `${this.zone} edge`);
    this.serveAddress(a.host);
    return a;
  }

  /** The listener's own address is a host the edge serves (unless every host is). */
  private serveAddress(host: string): void {
    if (!this.hosts.open && host !== '0.0.0.0' && host !== '::') {
      this.hosts.add(host.includes(':') ? `[${host}]` : host);
      if (host.startsWith('127.') || host === '::1') this.hosts.add('localhost');
    }
  }

  /** The sockets this edge listens on, for its workers: the main one first, then the anycast ones. */
  listeningServers(): NetServer[] {
    return [this.server as NetServer, ...(this.extra as NetServer[])];
  }

  /** Listeners on more addresses (anycast service addresses), closed with the edge. */
  private readonly extra: NetServer[] = [];

  /** Serves on one more address too (an anycast address of this zone's edge), its host accepted like the listener's. */
  async listenAlso(host: string, port: number): Promise<{ host: string; port: number }> {
    const a = await alsoListen(this.server as Server, host, port, `${this.zone} edge (anycast)`);
    this.extra.push(a.server);
    if (!this.hosts.open) this.hosts.add(a.host);
    return { host: a.host, port: a.port };
  }

  private closing: Promise<void> | undefined;

  /** Stops listening and closes pools and the disk store (idempotent). */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    for (const sess of this.sessions) sess.destroy();
    for (const sock of this.leanSockets) sock.destroy();
    for (const sock of this.tlsSockets) sock.destroy();
    // stop accepting everywhere; the connections they accepted belong to the server and close with it
    const extra = this.extra.splice(0).map((x) => new Promise<void>((r) => x.close(() => r())));
    if (this.server.listening) await closeServer(this.server as Server);
    await Promise.all(extra);
    await this.upstreams.close();
    this.disk?.close();
  }

  /** Stores an object sent by a content manager (push / preload by value). Returns its key. */
  push(host: string, target: string, headers: Record<string, string>, body: Buffer): string {
    const now = this.clock.wallTime();
    const key = primaryKey(host, target);
    const meta = makeMeta({
      key,
      variant: '',
      status: 200,
      headers,
      requestTime: now,
      responseTime: now,
      opts: {
        heuristicFraction: this.cfg.cache.heuristicFraction,
        heuristicMaxSeconds: this.cfg.cache.heuristicMaxSeconds,
        negative404Seconds: 0,
        negative5xxSeconds: 0,
      },
    });
    this.store.purgeKey(key, false);
    this.store.put(materialize(meta, body, this.cfg.compression.minBytes));
    this.m.setStore(this.store.size, this.store.memoryBytes);
    return key;
  }

  /** Fetches host+target into the cache now (preload by URL). */
  async preload(host: string, target: string): Promise<{ status: number; stored: boolean }> {
    const ctx = this.internalCtx(host, target);
    const r = await this.fetcher.fetchObject(ctx, undefined);
    if (r.kind === 'uncacheable' && !Buffer.isBuffer(r.response.body)) r.response.body.resume();
    this.m.setStore(this.store.size, this.store.memoryBytes);
    return { status: r.status, stored: r.kind === 'stored' };
  }

  /** Figures for /.mz/stats. */
  stats(): Record<string, unknown> {
    return {
      zone: this.zone,
      // which process answered: with edge.workers, each has its own tiers and figures
      pid: process.pid,
      objects: this.store.size,
      memoryBytes: this.store.memoryBytes,
      store: this.store.stats,
      hits: { ...this.hitCounts },
      disk: this.disk ? { ...this.disk.stats, size: this.disk.size } : null,
      upstreams: this.upstreams.describe(),
    };
  }

  /** Applies a purge to this process's tiers; the number of objects purged. */
  private purgeLocal(op: PurgeOp): number {
    let n = 0;
    for (const k of op.keys) n += this.store.purgeKey(k, op.soft);
    for (const p of op.prefixes) n += this.store.purgePrefix(p, op.soft);
    for (const t of op.tags) n += this.store.purgeSurrogate(t, op.soft);
    return this.purged(op.soft, n);
  }

  /** Applies an admin change another worker relayed (never relayed again); what it purged or stored. */
  async applyRelayed(op: EdgeAdminOp): Promise<number> {
    if (op.op === 'purge') return this.purgeLocal(op.purge);
    if (op.op === 'push') {
      this.push(op.host, op.target, op.headers, Buffer.from(op.body));
      return 1;
    }
    return (await this.preload(op.host, op.target)).stored ? 1 : 0;
  }

  private async relayOp(op: EdgeAdminOp): Promise<number> {
    return this.relay ? await this.relay(op) : 0;
  }

  /**
   * Serves a listening socket another process bound (an edge worker gets its zone's listeners
   * this way and shares their accept queue): the main one as `listen()` would, so node:http's
   * timeouts and the lean path run as they do there; an anycast one as `listenAlso()` would.
   */
  async attach(handle: NetServer, host: string, kind: 'main' | 'also'): Promise<void> {
    if (kind === 'also') {
      forwardConnections(handle, this.server as NetServer);
      this.extra.push(handle);
      if (!this.hosts.open) this.hosts.add(host);
      return;
    }
    await listenOnHandle(this.server as NetServer, handle);
    this.serveAddress(host);
  }

  private purged(soft: boolean, n: number): number {
    this.m.purged(soft ? 'soft' : 'hard', n);
    this.m.setStore(this.store.size, this.store.memoryBytes);
    return n;
  }

  private internalCtx(host: string, target: string): EdgeCtx {
    const headers = { host };
    return this.newCtx(undefined as never, undefined as never, 'GET', headers, host, target);
  }

  private newCtx(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    headers: EdgeCtx['headers'],
    host = '',
    target = '',
  ): EdgeCtx {
    return {
      req,
      res,
      method,
      host,
      target,
      key: host ? primaryKey(host, target) : '',
      kind: 'static',
      headers,
      fwd: host ? { host, via: `1.1 multizone-${this.zone}` } : undefined,
      buildFwd: undefined,
      dropCookie: false,
      reqCc: new Map(),
      stripSetCookie: false,
      obj: undefined,
      fwd_reason: undefined,
      fwdStatus: undefined,
      stored: false,
      collapsed: false,
      outcome: 'pending',
      detail: undefined,
      direct: undefined,
      fill: undefined,
      synth: undefined,
      lead: undefined,
      restarts: 0,
    };
  }

  /** The request entry point. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.onRequest?.();
    const ctx = this.newCtx(req, res, req.method ?? 'GET', req.headers);
    for (let i = 0; i < this.filters.length; i++) {
      const r = this.filters[i]!.onRequest(ctx);
      if (typeof r !== 'string') {
        void this.continueAsync(ctx, r, i);
        return;
      }
      if (r === 'stop') {
        this.finishStopped(ctx);
        return;
      }
    }
    try {
      runFsm(ctx, this.fsm)?.catch((e) => this.crash(ctx, e));
    } catch (e) {
      this.crash(ctx, e);
    }
  }

  private async continueAsync(ctx: EdgeCtx, pending: Promise<FilterStatus>, i: number): Promise<void> {
    try {
      let r = await pending;
      for (let j = i + 1; r === 'continue' && j < this.filters.length; j++) r = await this.filters[j]!.onRequest(ctx);
      if (r === 'stop') this.finishStopped(ctx);
      else await runFsm(ctx, this.fsm);
    } catch (e) {
      this.crash(ctx, e);
    }
  }

  private finishStopped(ctx: EdgeCtx): void {
    if (ctx.res.headersSent || ctx.res.writableEnded) return;
    if (ctx.synth) {
      if (ctx.synth.status >= 400 && ctx.synth.status !== 404) this.m.badRequest(ctx.detail ?? 'filter');
      ctx.outcome = 'synth';
      this.m.request('synth');
      deliverSynth(ctx, this.clock.wallTime());
      if (ctx.synth.headers?.connection === 'close') ctx.req.resume();
    }
  }

  private crash(ctx: EdgeCtx, e: unknown): void {
    this.logger.error({ err: e, key: ctx.key }, 'edge request failed');
    ctx.lead?.fail(e);
    if (!ctx.res.headersSent) {
      ctx.synth = { status: 500, code: edgeErrors.ERR_EDGE_UPSTREAM.code };
      deliverSynth(ctx, this.clock.wallTime());
    } else ctx.res.destroy();
  }

  private deliver(ctx: EdgeCtx): void {
    const now = this.clock.wallTime();
    let bytes = 0;
    if (ctx.fill) {
      const lead = ctx.lead;
      ctx.lead = undefined;
      streamFill(ctx, ctx.fill, lead, now, this.streamDeps);
    } else if (ctx.obj) bytes = deliverObject(ctx, ctx.obj, now, this.compress);
    else if (ctx.direct) bytes = deliverDirect(ctx, ctx.direct, now);
    else {
      ctx.synth = { status: 500, code: edgeErrors.ERR_EDGE_FSM_LOOP.code };
      deliverSynth(ctx, now);
    }
    const o = ctx.outcome;
    this.m.request(o);
    if (o === 'hit' || o === 'stale') {
      this.m.hit();
      this.hitCounts.all++;
    } else if (o === 'miss' || o === 'revalidated') {
      this.m.miss();
      if (ctx.stored && !ctx.fill) this.m.setStore(this.store.size, this.store.memoryBytes);
    }
    if (bytes) this.m.bytes(bytes);
  }

  /**
   * Puts the lean path in front of node:http: new connections go to it first, and node:http's
   * own connection listener takes those it hands over (see lean-hits.ts).
   */
  private takeConnections(server: Server): void {
    const nodeListeners = server.listeners('connection') as ((s: Socket) => void)[];
    server.removeAllListeners('connection');
    const lim = this.cfg.limits;
    const host: LeanHost = {
      limits: { maxHeaderBytes: lim.maxHeaderBytes, maxHeaders: lim.maxHeaders, maxUrlBytes: lim.maxUrlBytes },
      keepAliveMs: server.keepAliveTimeout,
      answer: (head, sock) => this.leanAnswer(head, sock),
      served: (r) => this.leanServed(r),
      date: () => this.httpDate(),
      handoff: (sock, reason) => {
        this.leanSockets.delete(sock);
        this.m.leanHandoff(reason);
        for (const l of nodeListeners) l.call(server, sock);
      },
    };
    server.on('connection', (sock: Socket) => {
      this.leanSockets.add(sock);
      sock.once('close', () => this.leanSockets.delete(sock));
      acceptLean(sock, host);
    });
  }

  /** The lean path's decision for one request: the same filters and lookup as node:http, a hit or a handoff. */
  private leanAnswer(head: ParsedHead, sock: Socket): LeanAnswer | Promise<LeanAnswer> {
    // the fields the filters read of a request
    const req = {
      url: head.target,
      rawHeaders: head.rawHeaders,
      headers: head.headers,
      method: head.method,
      socket: sock,
    };
    const ctx = this.newCtx(req as unknown as IncomingMessage, undefined as never, head.method, head.headers);
    this.leanCounts.length = 0;
    this.leanDeciding = true;
    try {
      for (let i = 0; i < this.leanFilters.length; i++)
        if (this.leanFilters[i]!.onRequest(ctx) !== 'continue') return { handoff: 'filter' };
    } finally {
      this.leanDeciding = false;
    }
    const counts = this.leanCounts.length ? this.leanCounts.splice(0) : undefined;
    if (STATES.recv(ctx, this.leanFsm) !== 'lookup') return { handoff: 'method' };
    const next = STATES.lookup(ctx, this.leanFsm);
    if (typeof next === 'string') return this.leanHit(ctx, next, counts);
    return next.then((n) => this.leanHit(ctx, n, counts));
  }

  private leanHit(ctx: EdgeCtx, next: string, counts: string[] | undefined): LeanAnswer {
    // anything but a hit (miss, revalidate, pass, only-if-cached) is node:http's
    if (next !== 'hit') return { handoff: next };
    STATES.hit(ctx, this.leanFsm);
    const o = ctx.obj!;
    const now = this.clock.wallTime();
    const r = objectReply(ctx, o, this.compress);
    const reply: LeanServed = {
      status: r.status,
      flat: r.flat,
      after: r.after,
      body: r.body,
      age: r.noAge ? undefined : String(ageHeader(o, now)),
      cacheStatus: cacheStatus(ctx, o, now),
      outcome: ctx.outcome,
      counts,
    };
    return reply;
  }

  private leanServed(reply: LeanReply): void {
    const r = reply as LeanServed;
    this.onRequest?.();
    if (r.counts) for (let i = 0; i < r.counts.length; i += 2) this.m.filter(r.counts[i]!, r.counts[i + 1]!);
    this.store.countMemoryHits(1);
    this.m.request(r.outcome);
    this.m.hit();
    this.m.leanHit();
    this.hitCounts.all++;
    this.hitCounts.lean++;
    if (r.body) this.m.bytes(r.body.length);
  }

  /** The Date field value for now (one string per second). */
  private httpDate(): string {
    const now = this.clock.wallTime();
    const sec = Math.floor(now / 1000);
    if (this.dateCache.second !== sec) this.dateCache = { second: sec, value: formatHttpDate(now) };
    return this.dateCache.value;
  }

  private backgroundRevalidate(ctx: EdgeCtx, stale: import('./cached-object.ts').CachedObject): void {
    const lead = this.collapser.lead(ctx.key);
    if (!lead) return;
    const bg: EdgeCtx = { ...ctx, lead: undefined };
    this.fetcher.fetchObject(bg, stale).then(
      (r) => {
        if (r.kind === 'uncacheable' && !Buffer.isBuffer(r.response.body)) r.response.body.resume();
        lead.done(r.kind === 'stored' ? 'stored' : 'uncacheable');
      },
      (e) => lead.fail(e),
    );
  }

  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_URI_TOO_LONG' ? 414 : 400;
    if (err.code !== 'ECONNRESET') this.m.badRequest(err.code ?? 'parse');
    if (socket.writable && err.code !== 'ECONNRESET')
      socket.end(
        rawErrorReply(
          status,
          edgeErrors.ERR_EDGE_BAD_REQUEST.code,
          `edge: the request could not be parsed (${err.code ?? 'parse error'})`,
          (err.code ?? 'parse').toLowerCase(),
        ),
      );
    socket.destroy();
  }

  /** CONNECT (a tunnel request): the edge is no forward proxy. */
  private refuseConnect(socket: Socket): void {
    this.m.badRequest('connect');
    this.m.request('synth');
    if (socket.writable)
      socket.end(
        rawErrorReply(
          405,
          edgeErrors.ERR_EDGE_METHOD_NOT_ALLOWED.code,
          'edge: CONNECT is not served here',
          'method',
          ALLOWED_METHODS,
        ),
      );
    socket.destroy();
  }
}

/** Creates an edge (not yet listening). */
export function createEdge(opts: EdgeOptions): Edge {
  return new Edge(opts);
}
