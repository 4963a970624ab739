import type { Server } from 'node:http';
import { request } from 'undici';
import { controlErrors, readBody } from '../control/index.ts';
import { closeServer, listenOn } from '../core/listen.ts';
import {
  AuditLog,
  FailoverController,
  failoverErrors,
  type HealthVerdicts,
  type Kv,
  MemoryKv,
  NatsKv,
  type ReplicationHook,
  ShardMap,
  ZoneFaults,
} from '../failover/index.ts';
import { type HostPort, ROLES } from '../topology/index.ts';
import type { DataService } from './part-data.ts';
import type { ClusterContext, ClusterPart } from './roles.ts';

/** What a zone's stoppable listeners look like to a drill. */
export interface ZoneHandle {
  kill(): Promise<void>;
  restore(): Promise<void>;
}

/**
 * The failover service, published as `ctx.shared.get('failover')`; the cluster-wide shard
 * map (the fence API) is also published alone as `ctx.shared.get('shardMap')`, and each
 * zone's own view (what its router and store should fence with) in `views`.
 */
export interface FailoverService {
  kv: Kv;
  map: ShardMap;
  views: Map<string, ShardMap>;
  audit: AuditLog;
  faults: ZoneFaults;
  controller: FailoverController;
  /** Bound address of each zone's router (ports may be 0 in the topology). */
  routers: Map<string, HostPort>;
  zones: Map<string, ZoneHandle>;
}

/** The app role publishes its server as `app.<zone>`; a killed zone's app stops too. */
interface AppHandle {
  server: Server;
  host: string;
  port: number;
}

async function zoneParam(req: import('node:http').IncomingMessage, url: URL): Promise<Record<string, string>> {
  const out: Record<string, string> = Object.fromEntries(url.searchParams);
  if (req.method === 'POST') {
    const body = (await readBody(req, 64 * 1024)).toString('utf8').trim();
    if (body) {
      try {
        Object.assign(out, JSON.parse(body));
      } catch {
        throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON, e.g. {"zone":"sh-a"}');
      }
    }
  }
  return out;
}

/** Cluster part: the Kv, the shard map, the failover controller and their control routes. */
export const failoverPart: ClusterPart = {
  name: 'failover',
  async start(ctx: ClusterContext) {
    const { topology, clock } = ctx;
    const cfg = topology.config.failover;
    const kv: Kv =
      cfg.kv.type === 'nats' ? await NatsKv.open({ url: cfg.kv.url, bucket: cfg.kv.bucket }) : new MemoryKv();
    const map = await new ShardMap(kv, topology.config.shards.count, clock).start();
    await map.init(topology.initialOwners(), topology.coreZone);
    const audit = new AuditLog(kv, clock);
    const faults = new ZoneFaults();
    const routers = new Map<string, HostPort>();
    const probeTimeout = cfg.check.timeoutMs;
    const probe = async (zone: string): Promise<boolean | undefined> => {
      if (faults.isIsolated(zone)) return false;
      const hp = routers.get(zone);
      if (!hp) return undefined; // its router has not started yet: no verdict
      try {
        const r = await request(`http://${hp.host}:${hp.port}/_mz/health`, {
          headersTimeout: probeTimeout,
          bodyTimeout: probeTimeout,
        });
        await r.body.dump();
        return r.statusCode === 200;
      } catch {
        return false;
      }
    };
    const marked = new Set<string>();
    const safeZoneUp = (h: HealthVerdicts, zone: string) => {
      try {
        return h.zoneUp(zone);
      } catch {
        return true;
      }
    };
    const controller = new FailoverController({
      topology,
      map,
      audit,
      clock,
      config: cfg,
      logger: ctx.logger,
      metrics: ctx.metrics,
      probe,
      health: () => ctx.shared.get('health') as HealthVerdicts | undefined,
      replication: () => ctx.shared.get('replication') as ReplicationHook | undefined,
      onVerdict(zone, up) {
        // steering learns from us unless the health plane has already marked the zone down;
        // on the way up we clear only the marks we set
        if (!up) {
          const health = ctx.shared.get('health') as HealthVerdicts | undefined;
          if (health && !safeZoneUp(health, zone)) return;
          marked.add(zone);
        } else if (!marked.delete(zone)) return;
        for (const role of ROLES) ctx.state.setUp(`${zone}/${role}`, up);
      },
    });
    const service: FailoverService = {
      kv,
      map,
      views: new Map(),
      audit,
      faults,
      controller,
      routers,
      zones: new Map(),
    };
    ctx.shared.set('failover', service);
    ctx.shared.set('shardMap', map);

    const { control } = ctx;
    control.route('GET', '/api/shardmap', (_req, url) => {
      const snap = map.snapshot();
      const full = url.searchParams.get('shards') !== '0';
      return {
        ...snap,
        shards: full ? snap.shards : undefined,
        states: controller.states(),
        isolated: faults.list(),
        config: { after: cfg.after, leaseMs: cfg.leaseMs, renewMs: cfg.renewMs, verdicts: cfg.verdicts },
      };
    });
    control.route('GET', '/api/audit', async (_req, url) => ({
      entries: await audit.list(Math.min(10_000, Number(url.searchParams.get('limit') ?? 1000) || 1000)),
    }));
    const needZone = (p: Record<string, string>) => {
      const zone = p.zone;
      if (!zone) throw controlErrors.ERR_CONTROL_BAD_REQUEST('need a zone: ?zone=NAME or {"zone":"NAME"}');
      if (!topology.hasZone(zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`unknown zone "${zone}"`);
      return zone;
    };
    control.route('POST', '/api/failover', async (req, url) => {
      const zone = needZone(await zoneParam(req, url));
      const started = clock.now();
      const r = await controller.failover(zone);
      return { zone, ...r, tookMs: Math.round(clock.now() - started) };
    });
    control.route('POST', '/api/failback', async (req, url) => {
      const zone = needZone(await zoneParam(req, url));
      const started = clock.now();
      const r = await controller.failback(zone);
      return { zone, ...r, tookMs: Math.round(clock.now() - started) };
    });
    const rpoSnapshots = new Map<string, Awaited<ReturnType<DataService['failZone']>>>();
    control.route('POST', '/api/drill/kill', async (req, url) => {
      const p = await zoneParam(req, url);
      const zone = needZone(p);
      const mode = p.mode ?? 'kill';
      if (mode !== 'kill' && mode !== 'partition')
        throw controlErrors.ERR_CONTROL_BAD_REQUEST('mode must be kill or partition');
      const at = clock.wallTime();
      const data = ctx.shared.get('data') as DataService | undefined;
      if (mode === 'partition') {
        // the zone keeps serving its clients: the snapshot is the moment it is cut off
        if (data && !rpoSnapshots.has(zone)) rpoSnapshots.set(zone, await data.failZone(zone));
        faults.setIsolated(zone, true);
      } else {
        const h = service.zones.get(zone);
        if (!h) throw controlErrors.ERR_CONTROL_BAD_REQUEST(`zone ${zone} does not run in this process`);
        // the zone's links and its listeners go down together; the RPO snapshot comes after both,
        // so it also holds the writes acknowledged while the listeners closed
        const down = async () => {
          await h.kill();
          const app = ctx.shared.get(`app.${zone}`) as AppHandle | undefined;
          if (app?.server.listening) await closeServer(app.server);
        };
        if (data && !rpoSnapshots.has(zone)) rpoSnapshots.set(zone, await data.failZone(zone, down));
        else await down();
      }
      await audit.append({ action: 'drill', zone, reason: mode });
      return { zone, mode, at };
    });
    control.route('POST', '/api/drill/restore', async (req, url) => {
      const zone = needZone(await zoneParam(req, url));
      faults.setIsolated(zone, false);
      const app = ctx.shared.get(`app.${zone}`) as AppHandle | undefined;
      if (app && !app.server.listening) await listenOn(app.server, app.host, app.port, `${zone} app`);
      await service.zones.get(zone)?.restore();
      await audit.append({ action: 'drill', zone, reason: 'restore' });
      const at = clock.wallTime();
      // the zone is back: replay what it acknowledged but had not shipped, and measure WRT
      const data = ctx.shared.get('data') as DataService | undefined;
      const snapshot = rpoSnapshots.get(zone);
      rpoSnapshots.delete(zone);
      if (!data || !snapshot) return { zone, at };
      const c = await data.restoreZone(zone, snapshot, 60_000);
      return {
        zone,
        at,
        data: {
          rpo: c.rpo,
          wrtMs: c.wrtMs ?? null,
          total: c.total,
          applied: c.applied,
          locked: c.locked,
          pending: c.pending,
          lost: c.lost,
        },
      };
    });

    controller.start();
    return {
      listeners: [],
      close: async () => {
        controller.stop();
        map.stop();
        await kv.close();
      },
    };
  },
};
