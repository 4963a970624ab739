import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { Socket } from 'node:net';
import { type Clock, systemClock } from '../core/clock.ts';
import { closeServer, listenOn } from '../core/listen.ts';
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
import { httpdnsMetrics, RequestCounts } from './metrics.ts';
import { NameTable } from './names.ts';
import { RateLimiter } from './rate-limit.ts';
import { type HandlerContext, type Req, type Res, replyError } from './reply.ts';

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
  const routes = new Map<string, Route>([
    ['/d', { name: 'd', methods: ['GET', 'HEAD'], handle: createDHandler(dDeps, false) }],
    ['/sign_d', { name: 'sign_d', methods: ['GET', 'HEAD'], handle: createDHandler(dDeps, true) }],
    ['/resolve', { name: 'resolve', methods: ['GET', 'HEAD'], handle: createResolveHandler(names) }],
    ['/dns-query', { name: 'dns-query', methods: ['GET', 'HEAD', 'POST'], handle: createDohHandler(dns) }],
    [
      '/report',
      {
        name: 'report',
        methods: ['POST'],
        handle: createReportHandler({
          aggregator,
          geo,
          accounts: config.accounts,
          zones: new Set(topology.zones.map((z) => z.name)),
          zoneOfIp: ipZones(topology, steering),
          wallTime,
          onSignatureRejected,
          onSamples: (n) => metrics?.speedSamples.inc({ zone }, n),
        }),
      },
    ],
  ]);

  const counts = new RequestCounts();
  const source = { zone, counts };
  metrics?.sources.add(source);
  /** Answers one request; returns the handler's promise only when it is asynchronous (reads a body). */
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
    const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    return route.handle({ req, res, client, params });
  };
  const failed = (res: Res) => {
    // a bug or a vanished client: answer if we still can, never take the process down
    try {
      if (!res.headersSent) replyError(res, 500, 'InternalError', 'internal error');
      else res.destroy?.();
    } catch {
      // the stream is gone
    }
  };
  // synchronous routes (/d, DoH GET, /resolve) answer without a promise or a microtask
  const onRequest = (req: Req, res: Res) => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const route = routes.get(path);
    // counted once the answer is complete: at once when it is, on 'finish' otherwise
    const count = () => counts.add(route?.name ?? 'other', res.statusCode);
    const done = () => {
      if (res.writableEnded) count();
      else res.once('finish', count);
    };
    let pending: void | Promise<void>;
    try {
      pending = answer(req, res, target, q, path, route);
    } catch {
      failed(res);
      return done();
    }
    if (pending === undefined) return done();
    pending.then(done, () => {
      failed(res);
      done();
    });
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
  const addr = await listenOn(server as Server, opts.host, opts.port, `httpdns${zone ? ` (${zone})` : ''}`);
  return {
    ...addr,
    protocol: config.tls ? 'https' : 'http',
    aggregator,
    close: async () => {
      metrics?.sources.delete(source);
      const closed = closeServer(server as Server);
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
