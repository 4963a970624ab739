import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { Counter } from 'prom-client';
import { type Clock, systemClock } from '../core/clock.ts';
import { closeServer, forwardConnections, listenOn, listenOnHandle } from '../core/listen.ts';
import type { Registry } from '../core/metrics.ts';
import type { HostPort, Topology } from '../topology/index.ts';
import type { RequestSigner } from '../trust/index.ts';
import { compose } from './compose.ts';
import { routerErrors } from './errors.ts';
import { newRouteContext } from './route-context.ts';
import { STAGES } from './stages/order.ts';
import type { ExternalAppDeps, Handler, RouterConfig, RouterDeps, RouterMap } from './types.ts';
import { Upstreams } from './upstreams.ts';

/** What a zone's router needs. */
export interface RouterOptions {
  topology: Topology;
  zone: string;
  /** This zone's view of the shard map. */
  map: RouterMap;
  /** Address of 'app' (this zone's app) or of a zone's router. */
  resolve(name: string): HostPort | undefined;
  clock?: Clock;
  /** Signs this zone's calls to other zones and verifies theirs; the same secret in every zone. */
  signer: RequestSigner;
  metrics?: Registry;
  /** Fault hook: true when `from` cannot reach `to`. */
  cut?(from: string, to: string): boolean;
  /** The zone's app is an external service (`zones.<z>.app`): its signer and health. */
  app?: ExternalAppDeps;
}

/** A zone's router: an HTTP server with the stage chain built once. */
export interface ZoneRouter {
  readonly server: Server;
  listen(host: string, port: number): Promise<HostPort>;
  /**
   * Serves a listening socket another process bound (a router worker gets its zone's
   * listeners this way and shares their accept queue): the main one as listen() would, an
   * anycast one by handing its connections to the server.
   */
  attach(handle: NetServer, kind: 'main' | 'also'): Promise<void>;
  close(): Promise<void>;
}

interface RouterMetrics {
  requests: Counter<'zone' | 'route'>;
  rejected: Counter<'zone' | 'code'>;
}
const metricsByRegistry = new WeakMap<Registry, RouterMetrics>();

function routerMetrics(reg: Registry | undefined): RouterMetrics | undefined {
  if (!reg) return undefined;
  let m = metricsByRegistry.get(reg);
  if (!m) {
    m = {
      requests: new Counter({
        name: 'mz_router_requests_total',
        help: 'Requests a router answered, by how: local, forward, second-read',
        labelNames: ['zone', 'route'],
        registers: [reg],
      }),
      rejected: new Counter({
        name: 'mz_router_rejected_total',
        help: 'Requests a router refused, by error code',
        labelNames: ['zone', 'code'],
        registers: [reg],
      }),
    };
    metricsByRegistry.set(reg, m);
  }
  return m;
}

/** Sends a JSON error body; never throws. */
function replyJson(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Builds a zone's router; call listen() to serve. */
export function createRouter(opts: RouterOptions, config: RouterConfig = opts.topology.config.router): ZoneRouter {
  const { topology, zone, map } = opts;
  const clock = opts.clock ?? systemClock;
  const m = routerMetrics(opts.metrics);
  const routeCounters = new Map<string, { inc(): void }>();
  const upstreams = new Upstreams(config, opts.resolve);
  const deps: RouterDeps = {
    topology,
    zone,
    map,
    upstreams,
    clock,
    signer: opts.signer,
    cut: opts.cut,
    ...(opts.app ? { app: opts.app } : {}),
    count(route) {
      if (!m) return;
      let c = routeCounters.get(route);
      if (!c) {
        c = m.requests.labels(zone, route);
        routeCounters.set(route, c);
      }
      c.inc();
    },
    reject(ctx, status, code, message, extra) {
      m?.rejected.labels(zone, code).inc();
      replyJson(ctx.res, status, { error: code, message, zone, ...extra });
    },
  };
  const chain = STAGES.map((s) => s.create(config, deps)).filter((h): h is Handler => h !== null);
  const run = compose(chain);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url === '/_mz/health') {
      // a zone whose external app fails its health path is down: the health plane and the
      // failover controller read this answer, and the runtime lets the zone's lease lapse
      if (opts.app && !opts.app.up()) {
        replyJson(res, 503, {
          zone,
          ready: map.ready(),
          pid: process.pid,
          app: 'down',
          error: routerErrors.ERR_ROUTER_APP_DOWN.code,
          message: `router: ${zone}'s app fails its health path`,
        });
        return;
      }
      // pid: which process of the zone answered (router.workers)
      replyJson(res, 200, { zone, ready: map.ready(), pid: process.pid, ...(opts.app ? { app: 'up' } : {}) });
      return;
    }
    const ctx = newRouteContext(req, res);
    run(ctx).then(
      () => {
        if (!res.headersSent)
          replyJson(res, 500, {
            error: routerErrors.ERR_ROUTER_UPSTREAM.code,
            message: 'router: no stage answered',
            zone,
          });
      },
      () =>
        replyJson(res, 500, { error: routerErrors.ERR_ROUTER_UPSTREAM.code, message: 'router: internal error', zone }),
    );
  };

  const server = createServer({ maxHeaderSize: config.maxHeaderBytes }, handle);
  /** Attached anycast listeners (a worker's), closed with the router. */
  const extra: NetServer[] = [];
  server.keepAliveTimeout = 30_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const tooBig = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      error: routerErrors.ERR_ROUTER_BAD_REQUEST.code,
      message: tooBig ? 'router: request header block too large' : 'router: malformed request',
      zone,
    });
    socket.end(
      `HTTP/1.1 ${tooBig ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    listen: (host, port) => listenOn(server, host, port, `${zone} router`),
    async attach(handle, kind) {
      if (kind === 'also') {
        forwardConnections(handle, server);
        extra.push(handle);
        return;
      }
      await listenOnHandle(server, handle);
    },
    async close() {
      for (const h of extra.splice(0)) h.close();
      await closeServer(server);
      await upstreams.close();
    },
  };
}
