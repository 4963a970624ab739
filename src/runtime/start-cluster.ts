import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Announcer, Speaker } from '../anycast/index.ts';
import { ControlServer, registerConsole } from '../control/index.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createMetrics } from '../core/metrics.ts';
import { type Random, systemRandom } from '../core/random.ts';
import { registerDrillRoutes, registerDrillRuns } from '../drill/index.ts';
import { defaultGeoDb, type GeoDb } from '../geo/index.ts';
import { LatencyAggregator } from '../httpdns/index.ts';
import { type Kv, openZoneView, watchForStalls } from '../shardmap/index.ts';
import { createSteering, MutableSteeringState, type Steering } from '../steering/index.ts';
import { parseHostPort, type Topology } from '../topology/index.ts';
import { clusterSecret, RequestSigner } from '../trust/index.ts';
import { type AnycastStage, startAnycastStage } from './anycast-stage.ts';
import { AppProcess, ensureAppKey } from './app-process.ts';
import { registerClusterRoutes } from './cluster-routes.ts';
import { echoAppRole } from './echo-app.ts';
import {
  startDataStage,
  startFailoverStage,
  startHealthStage,
  startLoadStage,
  startShardMapStage,
} from './plane-stages.ts';
import { ProcessRegistry, processId, registerRegistryRoutes } from './registry.ts';
import {
  type AppRole,
  type DataServices,
  edgeToken,
  type Foundation,
  type ListenerInfo,
  type Services,
  type ZoneServices,
} from './services.ts';
import { appRole, dnsRole, edgeRole, httpdnsRole, routerRole, type ZoneRoleStart } from './zone-roles.ts';

export interface ClusterOptions {
  topology: Topology;
  /** Zones to run here; default all (embedded mode). */
  zones?: readonly string[];
  /** Override the control listener ('127.0.0.1:7070'); port 0 picks a free port. */
  control?: { host: string; port: number };
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  geo?: GeoDb;
  /** The zones' application; default the built-in echo app. */
  app?: AppRole;
  /**
   * A control Kv to use instead of opening the one `failover.kv` names (not closed by close()):
   * several startCluster calls in one process share it as separate zone processes share NATS KV.
   */
  kv?: Kv;
  /**
   * The cluster secret zones sign their calls to each other with. Default: `trust.secretFile`;
   * without one, a process running every zone makes a random one, and a process running only
   * some zones refuses to start (ERR_TRUST_NO_SECRET).
   */
  secret?: Uint8Array;
  /** The edge admin token when none is configured (`edge.adminToken`, MZ_EDGE_TOKEN); `multizone up` passes its own. */
  adminToken?: string;
  /** The BGP speaker of each zone announcing anycast prefixes, instead of BIRD (tests, embedding). */
  anycastSpeaker?: (zone: string) => Speaker;
}

/** A running cluster (or the part of one this process runs). */
export interface RunningCluster {
  services: Services;
  listeners: ListenerInfo[];
  control: { host: string; port: number };
  /** This process's record in the control Kv (`cluster.proc.<id>`) and its view of the others. */
  registry: ProcessRegistry;
  steering: Steering;
  /** Each local zone's anycast announcer (empty without `anycast`). */
  anycast: ReadonlyMap<string, Announcer>;
  close(): Promise<void>;
}

/**
 * Starts a cluster's zones in one fixed order: the shard map, health, failover, the data
 * plane, then each local zone's roles (app, router, edge, HTTPDNS, DNS), then the control API.
 * If anything fails to start, what already started is stopped and the error is rethrown.
 */
export async function startCluster(opts: ClusterOptions): Promise<RunningCluster> {
  const f = foundation(opts);
  const stops: (() => Promise<void>)[] = [];
  const listeners: ListenerInfo[] = [];
  const closeAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        f.logger.warn({ err: e }, 'error while stopping');
      }
    }
    stops.length = 0;
    await f.control.close();
  };
  try {
    registerClusterRoutes(f);
    // one id per run: the process record (`cluster.proc.<id>`) and its zones' load records
    const id = processId(f.localZones, f.random);
    // an app multizone runs itself answers before anything of its zone starts, and stops last
    await startAppProcesses(f, stops);
    const services = await startStages(f, stops, id, opts.kv);
    const registry = processRegistry(services, listeners, id);
    registerRegistryRoutes(f.control, registry);
    // the speakers stop after every listener closed (stops run in reverse); the withdrawal,
    // pushed after the roles, runs before any of them closes
    let anycast: AnycastStage | null = null;
    stops.push(async () => anycast?.stop());
    for (const name of f.localZones) {
      const zone = f.topology.zone(name);
      const here = services.zones.get(name)!;
      for (const role of zoneRoles(opts.app ?? echoAppRole)) {
        const s = await role(services, zone, here);
        if (!s) continue;
        stops.push(s.close);
        listeners.push(...s.listeners);
      }
    }
    anycast = await startAnycastStage(services, opts.anycastSpeaker);
    if (anycast) {
      const started = anycast;
      stops.push(() => started.withdraw());
    }
    // a process running one zone (`multizone zone sh-a`) serves the control API on the zone's
    // own `listen.control` when it has one; `control.listen` is the cluster-wide default
    const only = f.localZones.length === 1 ? f.topology.zone(f.localZones[0]!) : undefined;
    const want = opts.control ?? only?.listen.control ?? parseHostPort(f.topology.config.control.listen);
    const control = await f.control.listen(want.host, want.port);
    f.advert.control = `http://${control.host}:${control.port}`;
    listeners.push({ zone: null, role: 'control', protocol: 'http', host: control.host, port: control.port });
    // published once the control URL is known, so others can reach this process; stopped first
    // on close, deleting the record while the Kv is still open
    await registry.start();
    stops.push(() => registry.stop());
    return {
      services,
      listeners,
      control,
      registry,
      steering: f.steering,
      anycast: anycast?.announcers ?? new Map(),
      close: closeAll,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Starts each local zone's app that has `app.command`, and waits until each answers its health path. */
async function startAppProcesses(f: Foundation, stops: (() => Promise<void>)[]): Promise<void> {
  const url = (hp: { host: string; port: number } | undefined) => (hp ? `http://${hp.host}:${hp.port}` : '');
  const starts: Promise<void>[] = [];
  for (const name of f.localZones) {
    const zone = f.topology.zone(name);
    const ext = zone.external;
    if (!ext?.run) continue;
    const keyFile = resolve(ext.keyFile);
    if (ensureAppKey(keyFile)) f.logger.info({ zone: name, keyFile }, `${name}: made the app key ${keyFile}`);
    const proc = new AppProcess({
      zone: name,
      app: { ...ext, run: ext.run },
      placeholders: {
        zone: name,
        host: ext.host,
        port: ext.port,
        keyFile,
        router: url(zone.listen.router),
        edge: url(zone.listen.edge),
        edgeToken: edgeToken(f),
        node: process.execPath,
      },
      logFile: resolve(f.topology.config.store.dataDir, `app-${name}.log`),
      clock: f.clock,
      logger: f.logger,
      at: `zones.${name}.app.command (${f.topology.where(['zones', name, 'app', 'command'])})`,
    });
    stops.push(() => proc.stop());
    starts.push(proc.start());
  }
  // side by side: the first failure stops startup, and closeAll stops every app already started
  const results = await Promise.allSettled(starts);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** What needs no other stage: config, injected clock and randomness, observability, steering. */
function foundation(opts: ClusterOptions): Foundation {
  const { topology } = opts;
  const localZones = opts.zones ?? topology.zones.map((z) => z.name);
  for (const z of localZones) topology.zone(z); // an unknown zone fails here, before anything starts
  const geo = opts.geo ?? defaultGeoDb();
  const random = opts.random ?? systemRandom();
  const state = new MutableSteeringState();
  const metrics = createMetrics({ defaults: true });
  const clock = opts.clock ?? systemClock;
  const signer = new RequestSigner({ secret: secretOf(opts, localZones), zone: 'cluster', clock });
  return {
    topology,
    localZones,
    clock,
    random,
    logger: opts.logger ?? createLogger(),
    metrics,
    geo,
    steering: createSteering({ topology, geo, random, state }),
    state,
    control: new ControlServer(metrics),
    // zones with an external app (`zones.<z>.app`) run none of multizone's: drills drive it by path
    app: localZones.every((z) => topology.zone(z).external) ? 'external' : (opts.app?.name ?? echoAppRole.name),
    advert: {},
    signer,
    adminToken: opts.adminToken,
  };
}

/** The cluster secret: given, from trust.secretFile, or (every zone in this process, no file) a fresh random one. */
function secretOf(opts: ClusterOptions, localZones: readonly string[]): Uint8Array {
  if (opts.secret) return opts.secret;
  const all = localZones.length === opts.topology.zones.length;
  if (opts.topology.config.trust.secretFile || !all) return clusterSecret(opts.topology, { allZones: false }).value;
  return randomBytes(32); // nobody outside this process has to agree on it
}

/** The cluster-wide stages, each given only what the ones before it made. */
async function startStages(
  f: Foundation,
  stops: (() => Promise<void>)[],
  processId: string,
  kv?: Kv,
): Promise<Services> {
  const zones = new Map<string, ZoneServices>(f.localZones.map((z) => [z, {}]));
  const shardmap = await startShardMapStage(f, kv);
  stops.push(shardmap.stop);
  // each local zone holds its lease (and its own view of the map) from here on: the store's
  // fence and the failover controller both judge the zone by it
  for (const [z, here] of zones) {
    here.view = await openZoneView({
      kv: shardmap.services.kv,
      zone: z,
      shards: f.topology.config.shards.count,
      clock: f.clock,
      leaseMs: f.topology.config.failover.leaseMs,
      renewMs: f.topology.config.failover.renewMs,
      faults: shardmap.services.faults,
      onResync: (why) => f.logger.warn(`shard map: ${z}'s view fell behind the control Kv (${why}); watching again`),
    });
    const view = here.view;
    // the store's fence and the controller judge this zone's lease by its keeper (local clock)
    shardmap.services.map.attachLease(view.keeper);
    stops.push(() => view.leave()); // a clean shutdown: the lease says the zone is restarting
  }
  // the process's own map (store fences, the controller) watches the Kv through its own
  // consumer: a stall there is caught by the renewals of the first local zone's lease
  const first = [...zones.values()][0]?.view;
  if (first) {
    const stalls = watchForStalls(
      shardmap.services.map,
      first.keeper,
      f.clock,
      f.topology.config.failover.renewMs,
      (why) => f.logger.warn(`shard map: this process's map fell behind the control Kv (${why}); watching again`),
    );
    stops.push(async () => stalls.cancel());
  }
  const health = startHealthStage(f, shardmap.services);
  stops.push(health.stop);
  let data: DataServices | undefined;
  const failover = await startFailoverStage(f, shardmap.services, health.services, zones, () => data);
  stops.push(failover.stop);
  const loads = startLoadStage(f, shardmap.services, failover.services.audit, processId);
  stops.push(loads.stop);
  const dataStage = await startDataStage(f, shardmap.services, health.services);
  stops.push(dataStage.stop);
  data = dataStage.services;
  const services: Services = {
    ...f,
    shardmap: shardmap.services,
    health: health.services,
    failover: failover.services,
    loads: loads.services,
    data,
    latency: latencyFor(f),
    edgeUrls: new Map(),
    zones,
  };
  registerDrillRoutes(f.control, {
    topology: f.topology,
    clock: f.clock,
    audit: services.failover.audit,
    faults: services.shardmap.faults,
    outage: data.outage,
    zone: (z) => zones.get(z)?.switch,
  });
  // the console (GET /) and the drills it starts; a browser's POST must carry the admin token,
  // the same one the edges take
  const token = () => edgeToken(f);
  f.control.setAdminToken(token());
  // calls forwarded between processes' control APIs (cluster-wide conflicts, purge) are signed
  f.control.setSigner(f.signer);
  registerDrillRuns(f.control, {
    topology: f.topology,
    clock: f.clock,
    random: f.random,
    control: () => f.advert.control,
  });
  const consolePage = registerConsole({
    control: f.control,
    metrics: f.metrics,
    clock: f.clock,
    edges: () => services.edgeUrls,
    edgeToken: token,
  });
  stops.push(async () => consolePage.stop());
  return services;
}

/**
 * This process's record in the control Kv: refreshed every 2 × failover.renewMs (at least
 * 1 s), so a dead process shows `alive: false` within STALE_INTERVALS of that.
 */
function processRegistry(s: Services, listeners: readonly ListenerInfo[], id: string): ProcessRegistry {
  return new ProcessRegistry({
    kv: s.shardmap.kv,
    clock: s.clock,
    logger: s.logger,
    id,
    zones: s.localZones,
    control: () => s.advert.control,
    listeners: () => listeners,
    links: () => s.data.replication.links(),
    intervalMs: Math.max(1000, 2 * s.topology.config.failover.renewMs),
    pid: process.pid,
    hostname: hostname(),
  });
}

/** One speed-report aggregator for the process: a report sent to any zone ranks for all. */
function latencyFor(f: Foundation): LatencyAggregator {
  const cfg = f.topology.config.httpdns.reports;
  const aggregator = new LatencyAggregator({
    clock: f.clock,
    minReports: cfg.minReports,
    halfLifeSeconds: cfg.halfLifeSeconds,
  });
  if (f.localZones.some((z) => f.topology.zone(z).listen.httpdns))
    f.state.latencyRank = aggregator.rank.bind(aggregator);
  return aggregator;
}

function zoneRoles(app: AppRole): ZoneRoleStart[] {
  return [appRole(app), routerRole, edgeRole, httpdnsRole, dnsRole];
}
