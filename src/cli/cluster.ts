import { ControlServer } from '../control/index.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createMetrics } from '../core/metrics.ts';
import { type Random, systemRandom } from '../core/random.ts';
import { defaultGeoDb, type GeoDb } from '../geo/index.ts';
import { createSteering, MutableSteeringState, type Steering } from '../steering/index.ts';
import { parseHostPort, type Topology } from '../topology/index.ts';
import { registerControlRoutes } from './control-routes.ts';
import {
  CLUSTER_PARTS,
  type ClusterContext,
  type ListenerInfo,
  type Started,
  ZONE_ROLES,
  type ZoneRole,
} from './roles.ts';

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
  /** Replaces the zones' built-in echo app (e.g. the accounts reference app). */
  app?: ZoneRole;
}

/** A running cluster (or the part of one this process runs). */
export interface RunningCluster {
  ctx: ClusterContext;
  listeners: ListenerInfo[];
  control: { host: string; port: number };
  steering: Steering;
  close(): Promise<void>;
}

/**
 * Starts the control API, every cluster-wide part, then every zone's role servers.
 * If anything fails to start, what already started is stopped and the error is rethrown.
 */
export async function startCluster(opts: ClusterOptions): Promise<RunningCluster> {
  const { topology } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom();
  const logger = opts.logger ?? createLogger();
  const metrics = createMetrics({ defaults: true });
  const geo = opts.geo ?? defaultGeoDb();
  const state = new MutableSteeringState();
  const steering = createSteering({ topology, geo, random, state });
  const control = new ControlServer(metrics);
  const localZones = opts.zones ?? topology.zones.map((z) => z.name);
  for (const z of localZones) topology.zone(z);
  const ctx: ClusterContext = {
    topology,
    localZones,
    clock,
    random,
    logger,
    metrics,
    geo,
    steering,
    state,
    control,
    shared: new Map(),
    app: opts.app?.name ?? 'echo',
  };
  const started: Started[] = [];
  const listeners: ListenerInfo[] = [];
  const closeAll = async () => {
    for (const s of [...started].reverse()) {
      try {
        await s.close();
      } catch (e) {
        logger.warn({ err: e }, 'error while stopping');
      }
    }
    await control.close();
  };

  let controlAddr: { host: string; port: number };
  try {
    registerControlRoutes(ctx, () => listeners);
    for (const part of CLUSTER_PARTS) {
      const s = await part.start(ctx);
      started.push(s);
      listeners.push(...s.listeners);
    }
    for (const zn of localZones) {
      const zone = topology.zone(zn);
      for (const role of ZONE_ROLES.map((r) => (r.role === 'app' && opts.app ? opts.app : r))) {
        const s = await role.start(ctx, zone);
        if (!s) continue;
        started.push(s);
        listeners.push(...s.listeners);
      }
    }
    const want = opts.control ?? parseHostPort(topology.config.control.listen);
    controlAddr = await control.listen(want.host, want.port);
    listeners.push({ zone: null, role: 'control', protocol: 'http', host: controlAddr.host, port: controlAddr.port });
  } catch (e) {
    await closeAll();
    throw e;
  }
  return { ctx, listeners, control: controlAddr, steering, close: closeAll };
}
