/**
 * The cluster-wide stages in their start order. Each is wiring only: it opens what its plane
 * exports, with what earlier stages made, and registers the plane's control routes.
 */

import { hostname } from 'node:os';
import { request } from 'undici';
import { registerDashboard } from '../control/index.ts';
import { AuditLog, FailoverController, registerFailoverRoutes, routerProbe, steeringMarks } from '../failover/index.ts';
import { createHealthChecker, type HealthChecker, healthReport, shareVotes } from '../health/index.ts';
import {
  type Log,
  openLog,
  Replication,
  registerReplicationRoutes,
  registerTableMetrics,
  replicationErrors,
  TableReplication,
  zoneOutage,
} from '../replication/index.ts';
import { GLOBAL, type Kv, LeaderElection, openControlKv, openShardMap, ZoneFaults } from '../shardmap/index.ts';
import { registerLoadRoutes, ZoneLoads } from '../steering/index.ts';
import { fenceFromShardMap, openStore, type Store } from '../store/index.ts';
import type { ReplicationTablesConfig } from '../topology/index.ts';
import type { DataServices, FailoverServices, Foundation, ShardMapServices, ZoneServices } from './services.ts';

type Staged<T> = { services: T; stop(): Promise<void> };

/** The control Kv (`given`, which its owner closes, or the one the topology names), the authoritative shard map, the fault switches. */
export async function startShardMapStage(f: Foundation, given?: Kv): Promise<Staged<ShardMapServices>> {
  const kv = given ?? (await openControlKv(f.topology, f.localZones));
  const release = () => (given ? Promise.resolve() : kv.close());
  try {
    const map = await openShardMap(kv, f.topology, f.clock);
    return {
      services: { kv, map, faults: new ZoneFaults() },
      async stop() {
        map.stop();
        await release();
      },
    };
  } catch (e) {
    await release();
    throw e;
  }
}

/**
 * Every local zone's prober probes every zone's endpoints; verdicts go to steering. When this
 * process runs only some zones, votes are shared through the control Kv so the quorum counts
 * every zone's prober. A drill's isolation drops probes across the cut, as a partition would.
 */
export function startHealthStage(f: Foundation, sm: ShardMapServices): Staged<HealthChecker | null> {
  registerDashboard(f.control);
  const config = f.topology.config.health;
  const remote = f.topology.zones.map((z) => z.name).filter((z) => !f.localZones.includes(z));
  const checker = config.enabled
    ? createHealthChecker({
        topology: f.topology,
        config,
        probers: f.localZones,
        remoteProbers: remote,
        clock: f.clock,
        state: f.state,
        metrics: f.metrics,
        logger: f.logger,
        fault: (from, endpointId) => (sm.faults.cut(from, endpointId.split('/')[0]!) ? 'drop' : 'ok'),
      })
    : null;
  f.control.route('GET', '/api/health', () => healthReport(config, checker));
  checker?.start();
  const unshare =
    checker && remote.length > 0
      ? shareVotes({
          checker,
          kv: sm.kv,
          localZones: f.localZones,
          clock: f.clock,
          intervalMs: config.intervalMs,
          logger: f.logger,
        })
      : undefined;
  return {
    services: checker,
    async stop() {
      unshare?.();
      await checker?.stop();
    },
  };
}

/**
 * The failover controller: probes each zone's router (addresses from `zones`, filled as
 * routers bind) and the health plane's verdicts, moves shards, marks steering. Replication's
 * lag (what a planned failover waits on) comes from the data stage, which starts after it.
 */
export async function startFailoverStage(
  f: Foundation,
  sm: ShardMapServices,
  health: HealthChecker | null,
  zones: ReadonlyMap<string, ZoneServices>,
  data: () => DataServices | undefined,
): Promise<Staged<FailoverServices>> {
  const cfg = f.topology.config.failover;
  const audit = new AuditLog(sm.kv, f.clock, f.logger);
  // one controller of all the processes acts: the one holding the leader lease in the control Kv
  const leader = new LeaderElection({
    kv: sm.kv,
    id: `${f.localZones.join('+')}@${hostname()}:${process.pid}:${f.random.int(1 << 30).toString(36)}`,
    zones: f.localZones,
    clock: f.clock,
    leaseMs: cfg.leaseMs,
    renewMs: cfg.renewMs,
    skewMs: cfg.skewMs,
    logger: f.logger,
    control: () => f.advert.control,
    onChange: (leading, term) =>
      void audit
        .append({
          action: 'verdict',
          reason: leading ? 'leads the control plane' : 'stopped leading',
          term,
          zones: f.localZones,
        })
        .catch(() => {}),
  });
  await leader.start();
  const controller = new FailoverController({
    topology: f.topology,
    map: sm.map,
    audit,
    clock: f.clock,
    config: cfg,
    logger: f.logger,
    metrics: f.metrics,
    probe: routerProbe({
      // a zone of this process: its bound router once it listens; another process's zone: where
      // the topology says its router listens (a SIGKILLed zone process must get a verdict)
      routerOf: (zone) => {
        if (f.localZones.includes(zone)) return zones.get(zone)?.router;
        const hp = f.topology.zone(zone).listen.router;
        return hp?.port ? hp : undefined;
      },
      faults: sm.faults,
      timeoutMs: cfg.check.timeoutMs,
    }),
    health: () => health ?? undefined,
    replication: () => lagHook(f, data()),
    onVerdict: steeringMarks(f.state, health),
    leader,
  });
  registerFailoverRoutes(f.control, {
    topology: f.topology,
    map: sm.map,
    controller,
    audit,
    faults: sm.faults,
    clock: f.clock,
    leader,
  });
  controller.start();
  return {
    services: { leader, controller, audit },
    async stop() {
      controller.stop();
      await leader.stop();
    },
  };
}

/**
 * Capacity steering fed by real load: the local zones' edges and routers count their requests
 * into it (zone-roles.ts), it publishes them in the control Kv and hands every zone's shed share
 * to steering. A local zone starting or stopping to shed goes to the audit log (and its line
 * to the log). GET /api/load shows what steering uses.
 */
export function startLoadStage(
  f: Foundation,
  sm: ShardMapServices,
  audit: AuditLog,
  processId: string,
): Staged<ZoneLoads> {
  const loads = new ZoneLoads({
    kv: sm.kv,
    clock: f.clock,
    logger: f.logger,
    metrics: f.metrics,
    topology: f.topology,
    localZones: f.localZones,
    state: f.state,
    processId,
    onChange: (e) =>
      void audit
        .append({ action: 'verdict', zone: e.zone, reason: e.reason })
        .catch((err: unknown) =>
          f.logger.info({ err, zone: e.zone, load: e.load, capacity: e.capacity }, `steering: ${e.zone} ${e.reason}`),
        ),
  });
  registerLoadRoutes(f.control, loads);
  loads.start();
  return { services: loads, stop: () => loads.stop() };
}

/**
 * A store per local zone, fenced by the authoritative shard map; the log between zones; and
 * replication, which reports a zone the health plane voted down as down, so what a planned
 * failover waits on is not held by a dead zone's backlog.
 */
export async function startDataStage(
  f: Foundation,
  sm: ShardMapServices,
  health: HealthChecker | null,
): Promise<Staged<DataServices>> {
  const { topology, logger } = f;
  const rcfg = topology.config.replication;
  const raw = new Map<string, Store>();
  let log: Awaited<ReturnType<typeof openLog>>;
  try {
    for (const zone of f.localZones) {
      // global resources follow the map's global owner and its epoch (it moves when the core zone fails)
      const fence = fenceFromShardMap(sm.map, { global: true });
      const onError = (e: Error) => logger.warn({ err: e }, `store ${zone}: ${e.message}`);
      raw.set(zone, await openStore({ topology, zone, fence, clock: f.clock, onError }));
    }
    log = await openLog({ topology, clock: f.clock, random: f.random, zones: f.localZones });
  } catch (e) {
    for (const s of raw.values()) await s.close();
    throw e;
  }
  if (log.kind === 'memory' && f.localZones.length < topology.zones.length)
    logger.warn('replication: the in-process log reaches only zones in this process; use replication.log: jetstream');
  const replication = new Replication({
    topology,
    stores: raw,
    log,
    clock: f.clock,
    logger,
    metrics: f.metrics,
    batchMax: rcfg.batchMax,
    pollMs: rcfg.pollMs,
    antiEntropyMs: rcfg.antiEntropyMs,
    zoneUp: (zone) => {
      try {
        return health?.zoneUp(zone);
      } catch {
        return undefined;
      }
    },
  });
  await replication.start();
  const stores = new Map([...raw.keys()].map((z) => [z, replication.storeFor(z)]));
  const all = topology.zones.map((z) => z.name);
  const outage = zoneOutage({ replication, log, zones: all, clock: f.clock });
  // the app's own PostgreSQL tables (replication.tables), decoded and applied beside the stores
  const tables = rcfg.tables ? await startTables(f, sm, log, rcfg.tables) : undefined;
  registerReplicationRoutes(f.control, { topology, replication, log, ...(tables ? { tables } : {}) });
  logger.debug({ zones: f.localZones, log: log.kind }, 'data plane running');
  return {
    services: { stores, replication, log, outage },
    async stop() {
      await tables?.stop();
      await replication.stop();
      await log.close();
      for (const s of raw.values()) await s.close();
    },
  };
}

/** Table replication of the zones this process runs, fenced by the shard map's owners. */
async function startTables(
  f: Foundation,
  sm: ShardMapServices,
  log: Log,
  config: ReplicationTablesConfig,
): Promise<TableReplication> {
  const { topology } = f;
  const tables = new TableReplication({
    config,
    zones: f.localZones,
    allZones: topology.zones.map((z) => z.name),
    log,
    clock: f.clock,
    logger: f.logger,
    ownership: () => ({
      owner: (shard) => sm.map.owner(shard === 'global' ? GLOBAL : shard),
      shardCount: topology.config.shards.count,
      hash: topology.config.shards.hash,
    }),
    shardChanges: (listener) => sm.map.watch(listener),
  });
  try {
    await tables.start();
  } catch (e) {
    await tables.stop();
    throw e;
  }
  if (f.metrics) registerTableMetrics(f.metrics, tables);
  return tables;
}

/**
 * What a planned move waits on: a zone's outgoing replication lag. A zone of this process is
 * measured here; another process's zone is asked at its control API (`listen.control`), since
 * only the process running a zone reads its store. The leader may run in any process.
 */
function lagHook(
  f: Foundation,
  data: DataServices | undefined,
): { lagFor(zone: string, to?: readonly string[]): Promise<number> } | undefined {
  if (!data) return undefined;
  return {
    async lagFor(zone, to) {
      if (f.localZones.includes(zone)) return data.replication.lagFor(zone, to);
      const hp = f.topology.zone(zone).listen.control;
      if (!hp)
        throw replicationErrors.ERR_REPL_UNKNOWN_ZONE(
          `${zone} runs in another process and has no zones.${zone}.listen.control to ask its replication lag at`,
        );
      const q = `zone=${encodeURIComponent(zone)}${to ? `&to=${encodeURIComponent(to.join(','))}` : ''}`;
      const r = await request(`http://${hp.host}:${hp.port}/api/replication/lag?${q}`, {
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      const body = (await r.body.json()) as { records?: number; message?: string };
      if (r.statusCode !== 200 || typeof body.records !== 'number')
        throw replicationErrors.ERR_REPL_UNKNOWN_ZONE(
          `${zone}'s control API answered ${r.statusCode}: ${body.message ?? ''}`,
        );
      return body.records;
    },
  };
}
