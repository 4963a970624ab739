import type { Server } from 'node:http';
import type { ControlServer } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import type { Random } from '../core/random.ts';
import type { ZoneSwitch } from '../drill/index.ts';
import type { AuditLog, FailoverController } from '../failover/index.ts';
import type { GeoDb } from '../geo/index.ts';
import type { AppWatch, HealthChecker } from '../health/index.ts';
import type { LatencyAggregator } from '../httpdns/index.ts';
import type { Log, Replication, ZoneOutage } from '../replication/index.ts';
import type { ExternalAppDeps } from '../router/index.ts';
import type { Kv, LeaderElection, ShardMap, ShardMapView, ZoneFaults, ZoneView } from '../shardmap/index.ts';
import type { MutableSteeringState, Steering, ZoneLoads } from '../steering/index.ts';
import type { Store } from '../store/index.ts';
import type { HostPort, Topology, Zone } from '../topology/index.ts';
import type { RequestSigner } from '../trust/index.ts';

/** One running listener, as shown in the table and GET /api/endpoints. */
export interface ListenerInfo {
  zone: string | null;
  role: string;
  protocol: string;
  host: string;
  port: number;
}

/** A started stage or role: its listeners and how to stop it. */
export interface Started {
  listeners: ListenerInfo[];
  close(): Promise<void>;
}

/** What every stage can use from the start: config, injected clock and randomness, observability, steering. */
export interface Foundation {
  topology: Topology;
  /** Zones this process runs (all of them in embedded mode). */
  localZones: readonly string[];
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: Registry;
  geo: GeoDb;
  steering: Steering;
  /** Live health verdicts, loads and latency ranks that steering reads. */
  state: MutableSteeringState;
  control: ControlServer;
  /** The zones' application (`echo`, or the app role's name, e.g. `accounts`): drills pick their workload by it. */
  app: string;
  /** What this process tells the others about itself; `control` is filled once the control API listens. */
  advert: { control?: string };
  /** Signs and verifies zone-to-zone calls with the cluster secret; `signer.as(zone)` per zone (one nonce cache). */
  signer: RequestSigner;
  /** The edge admin token `multizone up` made (overrides none that is configured); undefined: config or MZ_EDGE_TOKEN. */
  adminToken: string | undefined;
}

/** The shard map stage: the control Kv, the authoritative map, the drill's fault switches. */
export interface ShardMapServices {
  kv: Kv;
  map: ShardMap;
  faults: ZoneFaults;
}

/** The failover stage: the control plane election, the controller and the audit log it (and drills) write. */
export interface FailoverServices {
  leader: LeaderElection;
  controller: FailoverController;
  audit: AuditLog;
}

/** The data stage: each local zone's store (writes wake replication), the log, replication. */
export interface DataServices {
  stores: Map<string, Store>;
  replication: Replication;
  log: Log;
  outage: ZoneOutage;
}

/** What a local zone has running, filled as its roles start. */
export interface ZoneServices {
  /** The zone's own view of the shard map and its lease, held from before any of its roles start. */
  view?: ZoneView;
  router?: HostPort;
  app?: AppServer;
  edge?: HostPort;
  /** What a kill drill stops and restores. */
  switch?: ZoneSwitch;
  /** True between a kill drill's kill and its restore. */
  killed?: boolean;
  /** The zone's app is an external service: the key its requests are signed with, the watch over its health. */
  external?: ExternalAppRuntime;
}

/**
 * Everything a running cluster (or the zones of it this process runs) is made of, filled in
 * one fixed order: foundation → shardmap → health → failover → load → data → zone roles. A stage
 * receives only what earlier stages made, so nothing waits or polls for another.
 */
export interface Services extends Foundation {
  shardmap: ShardMapServices;
  /** null when `health.enabled` is false. */
  health: HealthChecker | null;
  failover: FailoverServices;
  /** Every zone's load and shed share (capacity steering); local edges and routers count into it. */
  loads: ZoneLoads;
  data: DataServices;
  /** The speed-report aggregator all of this process's HTTPDNS listeners share. */
  latency: LatencyAggregator;
  /** zone → edge base URL ('http://127.0.1.1:18080'), filled as edges start (tiers and push go there). */
  edgeUrls: Map<string, string>;
  zones: Map<string, ZoneServices>;
}

/** What a zone with an external app runs in its process: the app's signer and the watch over its health. */
export interface ExternalAppRuntime extends ExternalAppDeps {
  watch: AppWatch;
}

/** A zone's application as it runs behind the zone's router. */
export interface AppServer {
  server: Server;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** What a zone's application gets from the runtime. */
export interface AppContext {
  zone: Zone;
  topology: Topology;
  clock: Clock;
  logger: Logger;
  /** Where to listen: the zone's `listen.app`. */
  listen: HostPort;
  /** The zone's store (fenced by the shard map; its writes are replicated to every zone). */
  store: Store;
  /** The shard map: owners and epochs (an app stamps the epoch it wrote at). */
  shardMap: ShardMapView;
  /** Base URL of a zone's app ('http://host:port'), for calls between zones; undefined when unknown. */
  appUrl(zone: string): string | undefined;
  /** Signs this zone's calls to other zones (`x-multizone-auth`) and verifies theirs: internal routes accept only those. */
  signer: RequestSigner;
}

/** An application the runtime starts in every zone instead of the built-in echo app. */
export interface AppRole {
  /** Shown as `app` on GET /api/topology; `multizone drill` picks its workload by it. */
  name: string;
  start(ctx: AppContext): Promise<AppServer>;
}

/** The edges' admin token: `edge.adminToken`, else MZ_EDGE_TOKEN, else the one `multizone up` made. */
export function edgeToken(f: Pick<Foundation, 'topology' | 'adminToken'>): string {
  return f.topology.config.edge.adminToken || process.env.MZ_EDGE_TOKEN || f.adminToken || '';
}
