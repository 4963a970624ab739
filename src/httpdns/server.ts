import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import { type Clock, systemClock } from '../core/clock.ts';
import { alsoListen, closeServer, listenOn } from '../core/listen.ts';
import type { Registry } from '../core/metrics.ts';
import { createDnsHandler } from '../dns/index.ts';
import { type GeoDb, makeAddr } from '../geo/index.ts';
import type { Steering, SteeringState } from '../steering/index.ts';
import type { Topology, TopologyConfig } from '../topology/index.ts';
import { CidrSet, clientAddress, socketAddress } from './client-ip.ts';
import { httpdnsErrors } from './errors.ts';
import { streamToReqRes } from './h2-stream.ts';
import { createDHandler } from './handlers/d.ts';
import { createDohHandler } from './handlers/doh.ts';
import { createReportHandler } from './handlers/report.ts';
import { createResolveHandler } from './handlers/resolve.ts';
import { LatencyAggregator } from './latency.ts';
import { countStatus, httpdnsMetrics, RequestCounts } from './metrics.ts';
import { NameTable } from './names.ts';
import { QueryParams } from './query.ts';
import { RateLimiter } from './rate-limit.ts';
import { type HandlerContext, type Req, type Res, replyError, replyFailure } from './reply.ts';

export type HttpdnsConfig = TopologyConfig['httpdns'];

/** Longest request target we read; longer ones get 414 (Node itself stops at 16 KB of headers). */
const MAX_TARGET = 8192;

export interface HttpdnsServerOptions {
  topology: Topology;
  steering: Steering;
  geo: GeoDb;
  /** Live health and latency view; default the steering engine's own. */
  state?: SteeringState;
  /** Default: the topology's `httpdns:` section. */
  config?: HttpdnsConfig;
  clock?: Clock;
  metrics?: Registry;
  /** Shared speed-report aggregator (one per cluster); default a new one. */
  aggregator?: LatencyAggregator;
  /** Zone label for metrics. */
  zone?: string;
  host: string;
  port: number;
  /** More addresses to serve on, same port (the zone's anycast HTTPDNS addresses). */
  alsoHosts?: readonly string[];
}

export interface HttpdnsServer {
  host: string;
  port: number;
  protocol: 'http' | 'https';
  aggregator: LatencyAggregator;
  close(): Promise<void>;
}

interface Route {
  name: string;
  methods: readonly string[];
  handle: (ctx: HandlerContext) => void | Promise<void>;
  /** Answers by status (this server's metrics). */
  counts: Map<number, number>;
}

function bucketKey6(ip: string): string {
  try {
    return makeAddr(6, ip, 64).address;
  } catch {
    return ip;
  }
}

/** Every address of every service, mapped to the zones that answer it (for speed reports that name only an IP). */
function ipZones(topology: Topology, steering: Steering): (ip: string) => string | null {
  const zonesOf = new Map<string, Set<string>>();
  for (const svc of Object.keys(topology.config.services))
    for (const fam of [4, 6] as const)
      for (const e of steering.endpoints(svc, fam)) {
        let s = zonesOf.get(e.host);
        if (!s) {
          s = new Set();
          zonesOf.set(e.host, s);
        }
        s.add(e.zone);
      }
  return (ip) => {
    const s = zonesOf.get(ip);
    return s && s.size === 1 ? [...s][0]! : null;
  };
}

/**
 * Starts one zone's HTTPDNS listener: `/d`, `/sign_d`, `/resolve`, `/dns-query`, `/report`.
 * HTTPS with HTTP/2 (and HTTP/1.1) when `tls` is configured, plain HTTP/1.1 otherwise.
 */
export async function startHttpdnsServer(opts: HttpdnsServerOptions): Promise<HttpdnsServer> {
  const { topology, steering, geo } = opts;
  const config = opts.config ?? topology.config.httpdns;
  const clock = opts.clock ?? systemClock;
  const zone = opts.zone ?? '';
  const metrics = opts.metrics ? httpdnsMetrics(opts.metrics) : null;
  const trusted = new CidrSet(config.trustedProxies);
  const limiter = new RateLimiter(clock, config.rateLimit.perSecond, config.rateLimit.burst);
  const aggregator =
    opts.aggregator ??
    new LatencyAggregator({
      clock,
      minReports: config.reports.minReports,
      halfLifeSeconds: config.reports.halfLifeSeconds,
    });
  const names = new NameTable(topology, steering, opts.state);
  // DoH carries DNS messages: the authoritative DNS handler answers them, as over UDP and TCP
  const dns = createDnsHandler({ topology, steering, state: opts.state, clock });
  const wallTime = () => clock.wallTime();
  const onSignatureRejected = (code: string) => metrics?.signatureRejected.inc({ zone, code });
  const dDeps = { names, accounts: config.accounts, wallTime, onSignatureRejected };
  const counts = new RequestCounts();
  const source = { zone, counts };
  metrics?.sources.add(source);
  const route = (name: string, methods: readonly string[], handle: Route['handle']): Route => ({
    name,
    methods,
    handle,
    counts: counts.route(name),
  });
  const routes = new Map<string, Route>([
    ['/d', route('d', ['GET', 'HEAD'], createDHandler(dDeps, false))],
    ['/sign_d', route('sign_d', ['GET', 'HEAD'], createDHandler(dDeps, true))],
    ['/resolve', route('resolve', ['GET', 'HEAD'], createResolveHandler(names))],
    ['/dns-query', route('dns-query', ['GET', 'HEAD', 'POST'], createDohHandler(dns))],
    [
      '/report',
      route(
        'report',
        ['POST'],
        createReportHandler({
          aggregator,
          geo,
          accounts: config.accounts,
          zones: new Set(topology.zones.map((z) => z.name)),
          zoneOfIp: ipZones(topology, steering),
          wallTime,
          onSignatureRejected,
          onSamples: (n) => metrics?.speedSamples.inc({ zone }, n),
        }),
      ),
    ],
  ]);
  const otherCounts = counts.route('other');

  /** Answers one request; returns a promise only from a handler that awaits (/report reads its body so). */
  const answer = (req: Req, res: Res, target: string, q: number, path: string, route: Route | undefined) => {
    if (target.length > MAX_TARGET)
      return replyError(res, 414, 'UriTooLong', `request target over ${MAX_TARGET} bytes`);
    if (!route) return replyError(res, 404, 'NotFound', `no route ${path}`);
    if (!route.methods.includes(req.method ?? ''))
      return replyError(res, 405, 'MethodNotAllowed', `${path} takes ${route.methods.join(', ')}`, {
        allow: route.methods.join(', '),
      });
    const client = clientAddress(socketAddress(req.socket?.remoteAddress), req.headers['x-forwarded-for'], trusted);
    // an IPv6 client may rotate through its whole /64: one bucket per /64
    const wait = limiter.take(client.includes(':') ? bucketKey6(client) : client);
    if (wait > 0) {
      metrics?.rateLimited.inc({ zone });
      return replyError(res, 429, 'TooManyRequests', 'slow down', { 'retry-after': String(wait) });
    }
    return route.handle({ req, res, client, params: new QueryParams(q < 0 ? '' : target.slice(q + 1)) });
  };
  /** Counts an answer once it is complete: at once when it is, on 'finish' otherwise. */
  const count = (c: Map<number, number>, res: Res) => {
    if ((res as ServerResponse).writableEnded) countStatus(c, res.statusCode);
    else res.once('finish', () => countStatus(c, res.statusCode));
  };
  // /d, DoH and /resolve answer without a promise or a microtask (DoH POST from its body's end event)
  const onRequest = (req: Req, res: Res) => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const route = routes.get(path);
    const c = route?.counts ?? otherCounts;
    let pending: void | Promise<void>;
    try {
      pending = answer(req, res, target, q, path, route);
    } catch {
      replyFailure(res);
      return count(c, res);
    }
    if (pending === undefined) return count(c, res);
    pending.then(
      () => count(c, res),
      () => {
        replyFailure(res);
        count(c, res);
      },
    );
  };

  let server: Server | Http2SecureServer;
  if (config.tls) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(config.tls.cert);
      key = readFileSync(config.tls.key);
    } catch (e) {
      throw httpdnsErrors.ERR_HTTPDNS_TLS(`httpdns: cannot read tls cert/key: ${(e as Error).message}`, { cause: e });
    }
    // HTTP/1.1 over TLS arrives as 'request'; HTTP/2 streams skip the compatibility layer
    const secure = createSecureServer({ cert, key, allowHTTP1: true }, onRequest);
    secure.removeAllListeners('stream');
    secure.on('stream', (stream, headers) => onRequest(...streamToReqRes(stream, headers)));
    secure.on('sessionError', () => {});
    server = secure;
  } else {
    server = createServer(onRequest);
    server.keepAliveTimeout = 5000;
  }
  // HTTP/2 sessions and TLS sockets are not closed by closeAllConnections: track them all
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const what = `httpdns${zone ? ` (${zone})` : ''}`;
  const addr = await listenOn(server as Server, opts.host, opts.port, what);
  const extra: { close(done: () => void): unknown }[] = [];
  const close = async () => {
    metrics?.sources.delete(source);
    const stopped = extra.splice(0).map((x) => new Promise<void>((r) => x.close(() => r())));
    const closed = closeServer(server as Server);
    for (const s of sockets) s.destroy();
    await closed;
    await Promise.all(stopped);
  };
  try {
    for (const h of opts.alsoHosts ?? []) extra.push((await alsoListen(server as Server, h, addr.port, what)).server);
  } catch (e) {
    await close();
    throw e;
  }
  return { ...addr, protocol: config.tls ? 'https' : 'http', aggregator, close };
}
