/**
 * A zone's role servers in their start order: app first (routers and edges forward to it),
 * then router, edge, HTTPDNS and DNS. Each is wiring: it starts its plane's server with what
 * the cluster stages made and records its bound address in `services.zones`.
 */
import type { Server as NetServer } from 'node:net';
import { anycastAddresses } from '../anycast/index.ts';
import { alsoListen, closeServer, listenOn } from '../core/listen.ts';
import { workerCount } from '../core/worker-pool.ts';
import { DnsWorkers, startDnsServer } from '../dns/index.ts';
import { createEdge, defaultEdgeHosts, EdgeWorkers, startDemoOrigin, zoneRingPath } from '../edge/index.ts';
import { startHttpdnsServer } from '../httpdns/index.ts';
import { createRouter, RouterWorkers } from '../router/index.ts';
import type { HostPort, Zone } from '../topology/index.ts';
import { startExternalApp } from './external-app.ts';
import {
  type AppRole,
  edgeToken,
  type ListenerInfo,
  type Services,
  type Started,
  type ZoneServices,
} from './services.ts';

/** A per-zone role: null when the zone has no listener for it. */
export type ZoneRoleStart = (s: Services, zone: Zone, here: ZoneServices) => Promise<Started | null>;

/**
 * The zone's application (the echo app, or the app role passed in). A zone whose app is an
 * external service (`zones.<z>.app`) starts none: the zone watches the app's health instead.
 */
export function appRole(app: AppRole): ZoneRoleStart {
  return async (s, zone, here) => {
    if (zone.external) {
      const ext = startExternalApp(s, zone, here);
      here.external = ext;
      return {
        listeners: [
          { zone: zone.name, role: 'app', protocol: 'http', host: zone.external.host, port: zone.external.port },
        ],
        close: async () => ext.watch.stop(),
      };
    }
    const listen = zone.listen.app;
    if (!listen) return null;
    const server = await app.start({
      zone,
      topology: s.topology,
      clock: s.clock,
      logger: s.logger,
      listen,
      store: s.data.stores.get(zone.name)!,
      shardMap: s.shardmap.map,
      signer: s.signer.as(zone.name),
      appUrl: (z) => {
        // a zone in this process has its bound address; others listen where the topology says
        const a = s.zones.get(z)?.app ?? (s.topology.hasZone(z) ? s.topology.zone(z).listen.app : undefined);
        return a?.port ? `http://${a.host}:${a.port}` : undefined;
      },
    });
    here.app = server;
    s.logger.debug({ zone: zone.name, port: server.port }, 'app listening');
    return { listeners: [listener(zone, 'app', 'http', server)], close: server.close };
  };
}

/**
 * The zone's router, routing by the zone's own view of the shard map (through a partitionable
 * Kv handle, so a drill can cut it off; opened with the zone's lease before any role starts).
 */
export const routerRole: ZoneRoleStart = async (s, zone, here) => {
  const hp = zone.listen.router;
  if (!hp) return null;
  const zv = here.view!;
  const resolve = (name: string): HostPort | undefined =>
    name === 'app' ? (here.app ?? zone.listen.app) : (s.zones.get(name)?.router ?? s.topology.zone(name).listen.router);
  const router = createRouter({
    topology: s.topology,
    zone: zone.name,
    map: zv.view,
    resolve,
    clock: s.clock,
    signer: s.signer.as(zone.name),
    metrics: s.metrics,
    cut: (a, b) => s.shardmap.faults.cut(a, b),
    ...(here.external ? { app: here.external } : {}),
  });
  // every request it gets counts towards the zone's load: its own edge's, clients', other zones'
  router.server.on('request', () => s.loads.hit(zone.name, 'router'));
  const addr = await router.listen(hp.host, hp.port);
  here.router = { host: addr.host, port: addr.port };
  // the zone's anycast router addresses (same port), open and closed with the router's own
  const anycast = anycastAddresses(s.topology.config.anycast, zone.name, 'router');
  const extra: NetServer[] = [];
  const openExtra = async () => {
    for (const h of anycast) extra.push((await alsoListen(router.server, h, addr.port, `${zone.name} router`)).server);
  };
  const closeExtra = () =>
    Promise.all(extra.splice(0).map((x) => new Promise<void>((r) => x.close(() => r())))).then(() => {});
  // more processes on the same sockets: router.workers
  const count = workerCount(s.topology.config.router.workers);
  let workers: RouterWorkers | undefined;
  const startWorkers = async () => {
    if (count < 2) return;
    const { leaseMs, renewMs } = s.topology.config.failover;
    const w = new RouterWorkers({
      zone: zone.name,
      topology: s.topology,
      router,
      also: () => extra,
      map: zv.view,
      signer: s.signer.as(zone.name),
      ...(here.external ? { app: here.external } : {}),
      resolve,
      isolated: () => s.shardmap.faults.list(),
      onIsolated: (l) => s.shardmap.faults.onChange(l),
      count,
      // a copy of the lease must reach the workers before the last one they hold lapses
      tickMs: Math.min(200, Math.max(25, Math.floor((leaseMs - renewMs) / 2))),
      clock: s.clock,
      logger: s.logger,
      metrics: s.metrics,
      onRequests: (n) => s.loads.hit(zone.name, 'router', n),
    });
    await w.start();
    workers = w;
  };
  const stopWorkers = async () => {
    const w = workers;
    workers = undefined;
    await w?.close();
  };
  try {
    await openExtra();
    await startWorkers();
  } catch (e) {
    await stopWorkers();
    await closeExtra();
    await router.close();
    throw e;
  }
  here.switch = {
    // the router and its lease go first, then the app: a killed zone answers nothing
    async kill() {
      here.killed = true;
      zv.keeper.stop();
      await stopWorkers();
      const stopped = closeExtra();
      if (router.server.listening)
        await new Promise<void>((r) => {
          router.server.close(() => r());
          router.server.closeAllConnections();
        });
      await stopped;
      if (here.app?.server.listening) await closeServer(here.app.server);
    },
    async restore() {
      const app = here.app;
      if (app && !app.server.listening) await listenOn(app.server, app.host, app.port, `${zone.name} app`);
      if (!router.server.listening) await router.listen(addr.host, addr.port);
      if (extra.length === 0) await openExtra();
      if (!workers) await startWorkers();
      here.killed = false;
      // a zone whose external app is still down keeps its lease lapsed (the watch renews it once the app is back)
      if (here.external?.watch.up !== false) await zv.keeper.start();
    },
  };
  return {
    listeners: [
      listener(zone, 'router', 'http', addr),
      ...anycast.map((h) => listener(zone, 'router', 'http', { host: h, port: addr.port })),
    ],
    async close() {
      await stopWorkers();
      const stopped = closeExtra();
      await router.close();
      await stopped;
    },
  };
};

/**
 * The zone's edge (CDN node). Static objects come from `edge.origin`, or from a demo origin
 * started here; dynamic calls go to the zone's router if it has one, else its app.
 */
export const edgeRole: ZoneRoleStart = async (s, zone, here) => {
  const hp = zone.listen.edge;
  if (!hp) return null;
  const shared = s.topology.config.edge;
  // each zone's edge has a ring of its own (see zoneRingPath)
  const ring = zoneRingPath(shared.disk.path, zone.name, s.zones.size);
  const cfg = ring === shared.disk.path ? shared : { ...shared, disk: { ...shared.disk, path: ring } };
  const listeners: ListenerInfo[] = [];
  let origin = cfg.origin;
  let demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined;
  if (!origin) {
    const at = cfg.demoOrigin.lastIndexOf(':');
    demo = await startDemoOrigin({
      host: cfg.demoOrigin.slice(0, at),
      port: Number(cfg.demoOrigin.slice(at + 1)),
      clock: s.clock,
    });
    origin = demo.url;
    listeners.push(listener(zone, 'origin', 'http', demo));
  }
  const up = [here.router, zone.listen.router, here.app, zone.listen.app].find((a) => a !== undefined && a.port !== 0);
  const dynamic = up ? `http://${up.host}:${up.port}` : undefined;
  let edge: ReturnType<typeof createEdge> | undefined;
  let workers: EdgeWorkers | undefined;
  // the sites this edge serves: edge.hosts, or the topology's apex and edge services
  const hosts = cfg.hosts.length > 0 ? cfg.hosts : defaultEdgeHosts(s.topology.config);
  try {
    edge = createEdge({
      zone: zone.name,
      config: cfg,
      origin,
      dynamic,
      token: edgeToken(s),
      clock: s.clock,
      random: s.random,
      logger: s.logger,
      metrics: s.metrics,
      zoneEdges: () => s.edgeUrls,
      hosts,
      // every request, on the lean hit path as on node:http
      onRequest: () => s.loads.hit(zone.name, 'edge'),
    });
    const a = await edge.listen(hp.host, hp.port);
    s.edgeUrls.set(zone.name, `${edge.protocol}://${a.host}:${a.port}`);
    here.edge = { host: a.host, port: a.port };
    // and on the zone's anycast edge addresses, same port
    for (const h of anycastAddresses(s.topology.config.anycast, zone.name, 'edge'))
      listeners.push(listener(zone, 'edge', edge.protocol, await edge.listenAlso(h, a.port)));
    listeners.unshift(listener(zone, 'edge', edge.protocol, a));
    // more processes on the same sockets: edge.workers
    const count = workerCount(cfg.workers);
    if (count > 1) {
      workers = new EdgeWorkers({
        edge,
        count,
        start: { zone: zone.name, config: cfg, origin, dynamic, token: edgeToken(s), hosts, logLevel: s.logger.level },
        zoneEdges: () => s.edgeUrls,
        clock: s.clock,
        logger: s.logger,
        metrics: s.metrics,
        onRequests: (n) => s.loads.hit(zone.name, 'edge', n),
      });
      await workers.start();
    }
  } catch (e) {
    await workers?.close();
    await edge?.close();
    await demo?.close();
    throw e;
  }
  s.logger.debug({ zone: zone.name, origin, dynamic, workers: cfg.workers }, 'edge listening');
  const started = edge;
  const startedWorkers = workers;
  return {
    listeners,
    async close() {
      await startedWorkers?.close();
      await started.close();
      await demo?.close();
    },
  };
};

/** The zone's HTTPDNS listener; every zone of the process ranks by the one speed-report aggregator. */
export const httpdnsRole: ZoneRoleStart = async (s, zone) => {
  const hp = zone.listen.httpdns;
  if (!hp) return null;
  const anycast = anycastAddresses(s.topology.config.anycast, zone.name, 'httpdns');
  const srv = await startHttpdnsServer({
    topology: s.topology,
    steering: s.steering,
    geo: s.geo,
    state: s.state,
    clock: s.clock,
    metrics: s.metrics,
    aggregator: s.latency,
    zone: zone.name,
    host: hp.host,
    port: hp.port,
    alsoHosts: anycast,
  });
  s.logger.debug({ zone: zone.name, port: srv.port }, 'httpdns listening');
  return {
    listeners: [
      listener(zone, 'httpdns', srv.protocol, srv),
      ...anycast.map((h) => listener(zone, 'httpdns', srv.protocol, { host: h, port: srv.port })),
    ],
    close: srv.close,
  };
};

/**
 * The zone's authoritative DNS server (UDP and TCP on the zone's dns listener), and one more on
 * each anycast address the zone announces for DNS (same port), which must be on this host.
 * (The router, edge and HTTPDNS serve their anycast addresses the same way, same port.)
 */
export const dnsRole: ZoneRoleStart = async (s, zone) => {
  const hp = zone.listen.dns;
  if (!hp) return null;
  const servers: Awaited<ReturnType<typeof startDnsServer>>[] = [];
  let workers: DnsWorkers | undefined;
  const closeAll = async () => {
    await workers?.close();
    for (const srv of servers.splice(0)) await srv.close();
  };
  try {
    for (const host of [hp.host, ...anycastAddresses(s.topology.config.anycast, zone.name, 'dns')])
      servers.push(
        await startDnsServer({
          topology: s.topology,
          host,
          port: servers[0]?.port ?? hp.port,
          steering: s.steering,
          state: s.state,
          logger: s.logger,
          metrics: s.metrics,
          clock: s.clock,
          zone: zone.name,
        }),
      );
    // more processes on the same sockets: dns.workers
    const count = workerCount(s.topology.config.dns.workers);
    if (count > 1) {
      workers = new DnsWorkers({
        zone: zone.name,
        topology: s.topology,
        servers,
        state: s.state,
        count,
        clock: s.clock,
        logger: s.logger,
        metrics: s.metrics,
      });
      await workers.start();
    }
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { listeners: servers.map((srv) => listener(zone, 'dns', 'udp+tcp', srv)), close: closeAll };
};

function listener(zone: Zone, role: string, protocol: string, a: HostPort): ListenerInfo {
  return { zone: zone.name, role, protocol, host: a.host, port: a.port };
}
