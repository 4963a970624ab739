import { join, resolve } from 'node:path';
import { controlErrors, readBody } from '../control/index.ts';
import { isPlatformError } from '../core/errors.ts';
import {
  type CompensationReport,
  JetStreamLog,
  type Log,
  MemoryLog,
  Replication,
  type RpoSnapshot,
  replicationErrors,
} from '../replication/index.ts';
import {
  fenceFromShardMap,
  MemoryFence,
  PgStore,
  resourcePolicies,
  type ShardMapLike,
  SqliteStore,
  type Store,
  storeErrors,
  type WriteFence,
} from '../store/index.ts';
import type { ClusterContext, ClusterPart, Started } from './roles.ts';

/**
 * What the data part publishes as `ctx.shared.get('data')`: each local zone's store
 * (wrapped so writes wake replication) and the replication service. `ctx.shared.get('replication')`
 * is the Replication itself (its `lagFor(zone)` resolves to the records not yet applied elsewhere).
 */
export interface DataService {
  stores: Map<string, Store>;
  fences: Map<string, WriteFence>;
  replication: Replication;
  /**
   * For drills: stops the zone's replication (and, on the in-process log, cuts its links) as
   * a zone failure does, then takes its RPO snapshot: its acknowledged writes some other zone
   * has not applied. Its store takes nothing from the others and ships nothing until restoreZone.
   * `whileDown` runs between the two (a kill closes the zone's listeners there, so the
   * snapshot also holds the writes acknowledged while they closed).
   */
  failZone(zone: string, whileDown?: () => Promise<void>): Promise<RpoSnapshot>;
  /** For drills: the zone returns; resolves with RPO, WRT, applied/locked and lost (must be 0). */
  restoreZone(zone: string, snapshot: RpoSnapshot, timeoutMs?: number): Promise<CompensationReport>;
}

/** The zone's fence: its own view of the failover shard map when published, else an in-memory table. */
function fenceFor(ctx: ClusterContext, zone: string, fallback: MemoryFence): WriteFence {
  const failover = ctx.shared.get('failover') as { views?: Map<string, ShardMapLike> } | undefined;
  const view = failover?.views?.get(zone) ?? (ctx.shared.get('shardMap') as ShardMapLike | undefined);
  return view ? fenceFromShardMap(view) : fallback;
}

async function openStore(ctx: ClusterContext, zone: string, fence: WriteFence): Promise<Store> {
  const { topology, clock } = ctx;
  const cfg = topology.config.store;
  const deps = { zone, topology, fence, policies: resourcePolicies(topology, fence), clock };
  if (cfg.adapter === 'postgres')
    return PgStore.open({
      ...deps,
      connection: cfg.postgres.url,
      schema: `${cfg.postgres.schemaPrefix}${zone.replace(/-/g, '_')}`,
      poolSize: cfg.postgres.poolSize,
      // a pooled connection broke while idle (PostgreSQL restarted): the next query reconnects
      onError: (e) => ctx.logger.warn({ err: e }, `store ${zone}: ${e.message}`),
    }).catch((e: unknown) => {
      // name the setting: the URL was valid, the database behind it is not there
      if (isPlatformError(e) && e.code === 'ERR_STORE_UNAVAILABLE')
        throw storeErrors.ERR_STORE_UNAVAILABLE(
          `${topology.where(['store', 'postgres', 'url'])}: store.postgres.url: ${e.message}`,
          {
            cause: e,
          },
        );
      throw e;
    });
  return new SqliteStore({ ...deps, file: join(resolve(cfg.dataDir), `${zone}.db`), synchronous: cfg.synchronous });
}

async function openLog(ctx: ClusterContext): Promise<Log> {
  const cfg = ctx.topology.config.replication;
  if (cfg.log === 'jetstream')
    return JetStreamLog.connect({
      servers: cfg.nats.url.split(',').map((s) => s.trim()),
      prefix: cfg.nats.prefix,
      clock: ctx.clock,
    }).catch((e: unknown) => {
      if (isPlatformError(e) && e.code === 'ERR_REPL_LOG_UNAVAILABLE')
        throw replicationErrors.ERR_REPL_LOG_UNAVAILABLE(
          `${ctx.topology.where(['replication', 'nats', 'url'])}: replication.nats.url: ${e.message}`,
          { cause: e },
        );
      throw e;
    });
  return new MemoryLog({ clock: ctx.clock, random: ctx.random, wan: cfg.wan });
}

/** The data plane in `multizone up`: a store per local zone, the log between zones, replication, and its API. */
export const dataPart: ClusterPart = {
  name: 'data',
  async start(ctx): Promise<Started> {
    const { topology, control, logger } = ctx;
    const rcfg = topology.config.replication;
    const memoryFence = new MemoryFence(topology.initialOwners());
    const raw = new Map<string, Store>();
    const fences = new Map<string, WriteFence>();
    let log: Log | undefined;
    try {
      for (const zone of ctx.localZones) {
        const fence = fenceFor(ctx, zone, memoryFence);
        fences.set(zone, fence);
        raw.set(zone, await openStore(ctx, zone, fence));
      }
      log = await openLog(ctx);
      // a change the log cannot carry would stop its zone's shipping: refuse to start instead
      const want = topology.config.store.maxValueBytes;
      if (log instanceof JetStreamLog && log.maxValueBytes() < want) {
        const have = log.maxValueBytes();
        await log.close();
        throw replicationErrors.ERR_REPL_PAYLOAD_LIMIT(
          `${topology.file}: store.maxValueBytes is ${want}, but the NATS server's max_payload (${log.maxPayload()}) carries values up to ${have} bytes; set store.maxValueBytes to ${have} or less, or raise max_payload in nats-server.conf`,
        );
      }
    } catch (e) {
      for (const s of raw.values()) await s.close();
      throw e;
    }
    if (log.kind === 'memory' && ctx.localZones.length < topology.zones.length)
      logger.warn('replication: the in-process log reaches only zones in this process; use replication.log: jetstream');
    const replication = new Replication({
      topology,
      stores: raw,
      log,
      clock: ctx.clock,
      logger,
      metrics: ctx.metrics,
      batchMax: rcfg.batchMax,
      pollMs: rcfg.pollMs,
      antiEntropyMs: rcfg.antiEntropyMs,
      // the health plane's quorum verdict: a zone voted down has its links reported as down,
      // so lagFor (what a planned failover waits on) is not held by a dead zone's backlog
      zoneUp: (zone) => {
        const health = ctx.shared.get('health') as { zoneUp(zone: string): boolean } | undefined;
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
    const service: DataService = {
      stores,
      fences,
      replication,
      async failZone(zone, whileDown) {
        // cut and stop first (anti-entropy leaves a stopped zone alone), then look: the
        // snapshot is exactly what the others lack from now on
        if (log instanceof MemoryLog) log.isolate(zone, all);
        await replication.stopZone(zone);
        await whileDown?.();
        return replication.rpoAtFailure(zone);
      },
      async restoreZone(zone, snapshot, timeoutMs = 60_000) {
        if (log instanceof MemoryLog) log.rejoin(zone, all);
        const returnedAt = ctx.clock.now();
        await replication.startZone(zone);
        return replication.compensation(snapshot, returnedAt, timeoutMs);
      },
    };
    ctx.shared.set('data', service);
    ctx.shared.set('replication', replication);

    control.route('GET', '/api/replication', async () => ({
      log: log.kind,
      store: topology.config.store.adapter,
      zones: replication.zones(),
      links: await replication.links(),
      counters: replication.counters,
      conflicts: (await replication.conflicts()).length,
    }));
    control.route('GET', '/api/conflicts', async () => ({ conflicts: await replication.conflicts() }));
    control.route('POST', '/api/conflicts/resolve', async (req) => {
      let body: { id?: unknown; pick?: unknown; zone?: unknown };
      try {
        body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
      } catch {
        throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON: {"id":"resource/key","pick":"ZONE|VERSION"}');
      }
      if (typeof body.id !== 'string' || typeof body.pick !== 'string')
        throw controlErrors.ERR_CONTROL_BAD_REQUEST('need {"id":"resource/key","pick":"ZONE|VERSION"}');
      const r = await replication.resolve(body.id, body.pick, typeof body.zone === 'string' ? body.zone : undefined);
      return { id: body.id, pick: body.pick, zone: r.zone, version: r.result.version, seq: r.result.seq };
    });
    control.route('POST', '/api/replication/anti-entropy', async () => replication.antiEntropy());
    logger.debug({ zones: ctx.localZones, log: log.kind }, 'data plane running');
    return {
      listeners: [],
      async close() {
        await replication.stop();
        await log.close();
        for (const s of raw.values()) await s.close();
      },
    };
  },
};
