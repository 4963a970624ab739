import { startEchoApp } from '../app/index.ts';
import type { ControlApi } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import type { Random } from '../core/random.ts';
import type { GeoDb } from '../geo/index.ts';
import type { MutableSteeringState, Steering } from '../steering/index.ts';
import type { Topology, Zone } from '../topology/index.ts';
import { dataPart } from './part-data.ts';
import { failoverPart } from './part-failover.ts';
import { dnsRole } from './role-dns.ts';
import { edgeRole } from './role-edge.ts';
import { healthPart } from './role-health.ts';
import { httpdnsRole } from './role-httpdns.ts';
import { routerRole } from './role-router.ts';

/** One running listener, as shown in the table and GET /api/endpoints. */
export interface ListenerInfo {
  zone: string | null;
  role: string;
  protocol: string;
  host: string;
  port: number;
}

/** What every part of a running cluster can use; built once by startCluster. */
export interface ClusterContext {
  topology: Topology;
  /** Zones this process runs (all of them in embedded mode). */
  localZones: readonly string[];
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: Registry;
  geo: GeoDb;
  steering: Steering;
  /** Live health verdicts and loads that steering reads. */
  state: MutableSteeringState;
  control: ControlApi;
  /** Cluster-wide services parts publish for each other by name (e.g. 'health', 'shardMap'). */
  shared: Map<string, unknown>;
  /** The zones' application (`echo`, or the app role's `name`, e.g. `accounts`): drills pick their workload by it. */
  app: string;
}

/** A started part: its listeners and how to stop it. */
export interface Started {
  listeners: ListenerInfo[];
  close(): Promise<void>;
}

/** A cluster-wide part (health checker, failover controller): started once, before zones. */
export interface ClusterPart {
  name: string;
  start(ctx: ClusterContext): Promise<Started>;
}

/** A per-zone role server; returns null when the zone has no listener for it. */
export interface ZoneRole {
  role: string;
  /** For app roles: the workload's name, shown as `app` on GET /api/topology (default `echo`). */
  name?: string;
  start(ctx: ClusterContext, zone: Zone): Promise<Started | null>;
}

/** The zone's application: the built-in echo app (the data plane's reference app replaces it). */
const appRole: ZoneRole = {
  role: 'app',
  name: 'echo',
  async start(ctx, zone) {
    const hp = zone.listen.app;
    if (!hp) return null;
    const app = await startEchoApp({ zone: zone.name, host: hp.host, port: hp.port });
    ctx.logger.debug({ zone: zone.name, port: app.port }, 'app listening');
    ctx.shared.set(`app.${zone.name}`, app); // routers find the app's bound port here; drills stop it
    return {
      listeners: [{ zone: zone.name, role: 'app', protocol: 'http', host: app.host, port: app.port }],
      close: app.close,
    };
  },
};

/**
 * Cluster-wide parts, in start order. Later issues add theirs here (health, shard map,
 * failover, replication); keep each entry one line and the wiring in its own module.
 */
export const CLUSTER_PARTS: ClusterPart[] = [healthPart, failoverPart, dataPart];

/** Per-zone role servers, in start order (app first: routers and edges forward to it). */
export const ZONE_ROLES: ZoneRole[] = [appRole, routerRole, edgeRole, httpdnsRole, dnsRole];
