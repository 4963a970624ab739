import type { Clock, Timer } from '../core/clock.ts';
import { isPlatformError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import {
  type Conflict,
  descendsFrom,
  type ShardDigests,
  type Store,
  storeErrors,
  type WriteResult,
} from '../store/index.ts';
import type { Topology } from '../topology/index.ts';
import { type AntiEntropyResult, antiEntropyPass, type DigestPeer } from './anti-entropy.ts';
import { type CompensationReport, measureCompensation, type RpoSnapshot, rpoAtFailure } from './compensation.ts';
import { replicationErrors } from './errors.ts';
import type { Log } from './log.ts';
import { registerReplicationMetrics } from './metrics.ts';
import type { LinkLag, ReplicationCounters } from './stats.ts';
import { type ReplicatorEvents, ZoneReplicator } from './zone-replicator.ts';

/** A zone's outgoing lag: the worst live link, plus every link on its own. */
export interface ZoneLag {
  /** Largest backlog over links to live zones. */
  records: number;
  /** Largest age over links to live zones. */
  seconds: number;
  /** Every outgoing link, down ones included (flagged). */
  links: LinkLag[];
  /** Destinations known to be down, left out of records/seconds. */
  down: string[];
}

/** What resolveAll should resolve: every open conflict (of `resource`, of `ids`) by `pickZone`'s version. */
export interface ResolveAllRequest {
  /** The zone whose candidate wins; must be a zone of the topology (need not run here). */
  pickZone: string;
  /** Only conflicts of this resource (declared in the topology). */
  resource?: string;
  /** Only these conflict ids (`resource/key`); the CLI uses it so each id is resolved by one process. */
  ids?: readonly string[];
  /** Report what would be resolved; write nothing. */
  dryRun?: boolean;
}

/** A conflict resolveAll left open, and why (`code` when a resolution was tried and refused). */
export interface SkippedConflict {
  id: string;
  reason: string;
  code?: string;
}

/** What resolveAll did (or, with dryRun, would do). */
export interface ResolveAllResult {
  /** Ids resolved (dryRun: that would be), in id order. */
  resolved: string[];
  skipped: SkippedConflict[];
  dryRun: boolean;
}

/** A conflict as seen across this process's zones. */
export interface ClusterConflict extends Conflict {
  /** Zones where the record is locked. */
  zones: string[];
}

export interface ReplicationOptions {
  topology: Topology;
  /** The stores of the zones this process runs. */
  stores: ReadonlyMap<string, Store>;
  log: Log;
  clock: Clock;
  logger?: Logger;
  /** Registers mz_replication_* metrics here when given. */
  metrics?: Registry;
  batchMax?: number;
  pollMs?: number;
  /** Anti-entropy period between local zones (ms); 0 turns the timer off (passes can still be run by hand). */
  antiEntropyMs?: number;
  /** Extra observers (benchmarks, tests). */
  events?: ReplicatorEvents;
  /** Change-log entries kept behind what every zone has applied (default 10000). */
  keepChanges?: number;
  /**
   * A zone's verdict (e.g. the health plane's quorum): false marks its links down, so a dead
   * zone's backlog does not count as live lag. undefined = no verdict (the zone counts as up
   * unless stopped here or marked with setZoneUp).
   */
  zoneUp?: (zone: string) => boolean | undefined;
  /** How often the change log is pruned (ms); 0 = never (default 60000). */
  pruneMs?: number;
}

/**
 * Replication for the zones this process runs: one ZoneReplicator per zone (shipper plus
 * one applier per other zone), periodic anti-entropy between local zones, lag per link,
 * and the cluster view of conflicts with resolution.
 */
export class Replication {
  private readonly replicators = new Map<string, ZoneReplicator>();
  /** Zones stopped here (stopZone) or declared down (setZoneUp). */
  private readonly downZones = new Set<string>();
  private aeTimer: Timer | undefined;
  private pruneTimer: Timer | undefined;
  private aeRunning = false;
  readonly counters: ReplicationCounters = {
    shippedBatches: 0,
    applied: 0,
    conflicts: 0,
    settled: 0,
    gaps: 0,
    repaired: 0,
    errors: 0,
  };

  constructor(private readonly opts: ReplicationOptions) {
    const zones = opts.topology.zones.map((z) => z.name);
    const extra = opts.events ?? {};
    const events: ReplicatorEvents = {
      shipped: (zone, b) => {
        this.counters.shippedBatches++;
        extra.shipped?.(zone, b);
      },
      applied: (origin, dest, b, r) => {
        this.counters.applied += r.applied;
        this.counters.conflicts += r.conflicts;
        this.counters.settled += r.settled;
        extra.applied?.(origin, dest, b, r);
      },
      gap: (origin, dest, cursor, from) => {
        this.counters.gaps++;
        extra.gap?.(origin, dest, cursor, from);
      },
      error: (zone, e) => {
        this.counters.errors++;
        extra.error?.(zone, e);
      },
    };
    for (const [zone, store] of opts.stores) {
      this.replicators.set(
        zone,
        new ZoneReplicator({
          zone,
          store,
          log: opts.log,
          peers: zones.filter((z) => z !== zone),
          clock: opts.clock,
          logger: opts.logger,
          batchMax: opts.batchMax,
          pollMs: opts.pollMs,
          events,
        }),
      );
    }
    if (opts.metrics) registerReplicationMetrics(opts.metrics, this);
  }

  /** Zones this process replicates. */
  zones(): string[] {
    return [...this.replicators.keys()];
  }

  private replicator(zone: string): ZoneReplicator {
    const r = this.replicators.get(zone);
    if (!r) throw replicationErrors.ERR_REPL_UNKNOWN_ZONE(`zone ${zone} is not replicated by this process`);
    return r;
  }

  private unserve: (() => void)[] = [];

  async start(): Promise<void> {
    for (const r of this.replicators.values()) await r.start();
    const log = this.opts.log;
    if (log.serveDigests && this.unserve.length === 0)
      for (const r of this.replicators.values()) this.unserve.push(log.serveDigests(r.store));
    const every = this.opts.antiEntropyMs ?? 0;
    if (every > 0) this.aeTimer = this.opts.clock.setInterval(every, () => void this.antiEntropy().catch(() => {}));
    const pruneEvery = this.opts.pruneMs ?? 60_000;
    if (pruneEvery > 0)
      this.pruneTimer = this.opts.clock.setInterval(pruneEvery, () => void this.prune().catch(() => {}));
  }

  async stop(): Promise<void> {
    this.aeTimer?.cancel();
    this.pruneTimer?.cancel();
    for (const u of this.unserve.splice(0)) u();
    for (const r of this.replicators.values()) await r.stop();
  }

  /** Stops one zone's shipping and applying (a zone failure in drills and simulations). */
  async stopZone(zone: string): Promise<void> {
    this.downZones.add(zone);
    await this.replicator(zone).stop();
  }

  /** Restarts a stopped zone: it resumes from its durable shipped position and cursors. */
  async startZone(zone: string): Promise<void> {
    await this.replicator(zone).start();
    this.downZones.delete(zone);
  }

  /**
   * Declares a zone down or up again (a zone in another process, from the health plane): links
   * to a down zone are reported as down and left out of lagOf/lagFor.
   */
  setZoneUp(zone: string, up: boolean): void {
    if (up) this.downZones.delete(zone);
    else this.downZones.add(zone);
  }

  /** True when the zone is stopped here, declared down, or the zoneUp verdict says so. */
  isDown(zone: string): boolean {
    return this.downZones.has(zone) || this.opts.zoneUp?.(zone) === false;
  }

  /** Wakes a zone's shipper after writes (otherwise it polls every pollMs). */
  notify(zone: string): void {
    this.replicators.get(zone)?.notify();
  }

  /**
   * The zone's store for applications: every local write (put, putMany, resolve) wakes the
   * shipper at once instead of waiting for the next poll.
   */
  storeFor(zone: string): Store {
    const s = this.replicator(zone).store;
    const wake = <T>(p: Promise<T>): Promise<T> =>
      p.then((x) => {
        this.notify(zone);
        return x;
      });
    return {
      zone: s.zone,
      kind: s.kind,
      get: (r, k) => s.get(r, k),
      list: (r, p, l) => s.list(r, p, l),
      state: (r, k) => s.state(r, k),
      put: (req) => wake(s.put(req)),
      putMany: (reqs) => wake(s.putMany(reqs)),
      apply: (o, cs, upTo) => s.apply(o, cs, upTo),
      cursor: (o) => s.cursor(o),
      cursors: () => s.cursors(),
      changesAfter: (a, l) => s.changesAfter(a, l),
      lastSeq: () => s.lastSeq(),
      timeOf: (seq) => s.timeOf(seq),
      pruneChanges: (seq) => s.pruneChanges(seq),
      shipped: () => s.shipped(),
      markShipped: (seq) => s.markShipped(seq),
      conflicts: () => s.conflicts(),
      resolve: (id, pick) => wake(s.resolve(id, pick)),
      digests: () => s.digests(),
      shardRecords: (shard) => s.shardRecords(shard),
      repair: (st) => s.repair(st),
      ...(s.onCommit ? { onCommit: (l: () => void) => s.onCommit!(l) } : {}),
      close: () => s.close(),
    };
  }

  /**
   * Lag of origin → dest. origin must run in this process; dest's position comes from its
   * store when it runs here too, else from the log (the durable consumer's acknowledged batch).
   */
  async lag(origin: string, dest: string): Promise<LinkLag> {
    const o = this.replicator(origin).store;
    const local = this.replicators.get(dest);
    const [last, cursor] = await Promise.all([
      o.lastSeq(),
      local ? local.store.cursor(origin) : this.opts.log.ackedUpTo(origin, dest).then((x) => x ?? 0),
    ]);
    const records = Math.max(0, last - cursor);
    let seconds = 0;
    if (records > 0) {
      const t = await o.timeOf(cursor + 1);
      if (t !== undefined) seconds = Math.max(0, (this.opts.clock.wallTime() - t) / 1000);
    }
    return { origin, dest, records, seconds, down: this.isDown(dest) };
  }

  /** Every link from a zone of this process to every other zone of the topology. */
  async links(): Promise<LinkLag[]> {
    const all = this.opts.topology.zones.map((z) => z.name);
    const out: LinkLag[] = [];
    for (const o of this.zones()) for (const d of all) if (o !== d) out.push(await this.lag(o, d));
    return out;
  }

  /**
   * Records of `zone` some live zone has not applied (the largest outgoing lag over links to
   * zones that are not down). The failover controller reads it as `services.data.replication.lagFor`: a planned
   * failover waits for 0 before moving the zone's shards — a dead zone's backlog would hold
   * it forever, and that zone replays from the log when it returns. With `to`, only the links
   * to those zones count: a move's RPO 0 needs the zones taking the shards to hold every record,
   * and a link to a third zone that is slow (or whose lag cannot be read) must not hold it.
   */
  async lagFor(zone: string, to?: readonly string[]): Promise<number> {
    return (await this.lagOf(zone, to)).records;
  }

  /** The outgoing lag of `zone`: worst live link in records and seconds, and every link on its own (only the links to `to`, when given). */
  async lagOf(zone: string, to?: readonly string[]): Promise<ZoneLag> {
    let records = 0;
    let seconds = 0;
    const links: LinkLag[] = [];
    const down: string[] = [];
    for (const d of this.opts.topology.zones) {
      // only the links asked about are read (a move polls this; an unreadable third link costs a timeout)
      if (d.name === zone || (to && !to.includes(d.name))) continue;
      const l = await this.lag(zone, d.name);
      links.push(l);
      if (l.down) {
        down.push(d.name);
        continue;
      }
      records = Math.max(records, l.records);
      seconds = Math.max(seconds, l.seconds);
    }
    return { records, seconds, links, down };
  }

  /** Open conflicts across this process's zones, one entry per record. */
  async conflicts(): Promise<ClusterConflict[]> {
    const byId = new Map<string, ClusterConflict>();
    for (const [zone, r] of this.replicators) {
      for (const c of await r.store.conflicts()) {
        const seen = byId.get(c.id);
        if (seen) seen.zones.push(zone);
        else byId.set(c.id, { ...c, zones: [zone] });
      }
    }
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /**
   * Resolves a conflict by picking a version (zone, version number or vector). Written in
   * `zone` if given, else in the first local zone where the record is locked; the new
   * version replicates and unlocks the record everywhere.
   */
  async resolve(id: string, pick: string, zone?: string): Promise<{ zone: string; result: WriteResult }> {
    let where = zone;
    if (!where) {
      const c = (await this.conflicts()).find((x) => x.id === id);
      where = c?.zones[0] ?? this.zones()[0]!;
    }
    const result = await this.replicator(where).store.resolve(id, pick);
    this.notify(where);
    return { zone: where, result };
  }

  /**
   * Resolves every open conflict of this process's zones by picking `pickZone`'s candidate,
   * each through resolve() (one new dominating version per record, written in the first local
   * zone where it is locked, replicating as a single resolution does). A conflict without
   * exactly one candidate from `pickZone` is skipped and reported, never guessed; so is one a
   * store refuses (e.g. already resolved meanwhile). Throws ERR_REPL_PICK_ZONE_UNKNOWN or
   * ERR_STORE_UNKNOWN_RESOURCE before touching anything.
   */
  async resolveAll(req: ResolveAllRequest): Promise<ResolveAllResult> {
    const { pickZone, resource, ids, dryRun = false } = req;
    const zones = this.opts.topology.zones.map((z) => z.name);
    if (!zones.includes(pickZone))
      throw replicationErrors.ERR_REPL_PICK_ZONE_UNKNOWN(
        `--pick-zone ${pickZone}: no such zone in the topology (zones: ${zones.join(', ')})`,
      );
    if (resource !== undefined && !Object.hasOwn(this.opts.topology.config.resources, resource))
      throw storeErrors.ERR_STORE_UNKNOWN_RESOURCE(`--resource ${resource} is not declared in the topology`);
    const only = ids ? new Set(ids) : undefined;
    const out: ResolveAllResult = { resolved: [], skipped: [], dryRun };
    for (const c of await this.conflicts()) {
      if (resource !== undefined && c.resource !== resource) continue;
      if (only && !only.has(c.id)) continue;
      const from = c.candidates.filter((x) => x.origin === pickZone);
      if (from.length !== 1) {
        out.skipped.push({
          id: c.id,
          reason:
            from.length === 0
              ? `no version from ${pickZone} (versions from ${c.candidates.map((x) => x.origin).join(', ')})`
              : `${from.length} versions from ${pickZone}; resolve it by version number`,
        });
        continue;
      }
      const settledIn = await this.resolvedLocally(c);
      if (settledIn) {
        out.skipped.push({ id: c.id, reason: `already resolved in ${settledIn}; the resolution is replicating` });
        continue;
      }
      if (dryRun) {
        out.resolved.push(c.id);
        continue;
      }
      try {
        await this.resolve(c.id, pickZone, c.zones[0]);
        out.resolved.push(c.id);
      } catch (e) {
        if (!isPlatformError(e)) throw e;
        out.skipped.push({ id: c.id, reason: e.message, code: e.code });
      }
    }
    return out;
  }

  /**
   * A local zone where the conflict's record is already unlocked by a version descending from
   * every candidate (a resolution not yet replicated to the zones still locked), if any.
   * Resolving again in a locked zone would write a second, concurrent resolution and lock the
   * record anew.
   */
  private async resolvedLocally(c: ClusterConflict): Promise<string | undefined> {
    for (const [zone, r] of this.replicators) {
      if (c.zones.includes(zone)) continue;
      const s = await r.store.state(c.resource, c.key);
      if (s && !s.locked && c.candidates.every((x) => descendsFrom(x.vv, s.vv))) return zone;
    }
    return undefined;
  }

  /**
   * One anti-entropy pass over every pair of zones this process can reach: pairs of its
   * own zones, and — when the log spans processes — each own zone with every other zone
   * whose name sorts after it (the other side initiates the rest, so each pair runs once).
   * Zones that are down (stopped here, declared down, or voted down) are left out: a dead or
   * cut-off zone cannot be read or repaired, even when its store is in this process, or its
   * unshipped writes would leak early and hide the RPO that compensation must replay.
   * `only`: just the pairs that include that zone (POST /api/replication/anti-entropy {"zone"}).
   */
  async antiEntropy(only?: string): Promise<AntiEntropyResult> {
    if (this.aeRunning) return { shards: 0, repaired: 0 };
    this.aeRunning = true;
    try {
      const total = { shards: 0, repaired: 0 };
      // each zone's digests are read once per pass, though a zone is in a pair with every other
      // (three reads of each zone's whole table per pass with four zones); read again after a
      // pair's repair changed it, or after a read failed
      const read = new Map<string, Promise<ShardDigests>>();
      const forget = (...zones: string[]) => {
        for (const z of zones) read.delete(z);
      };
      const once = (p: DigestPeer): DigestPeer => ({
        zone: p.zone,
        digests: () => {
          let d = read.get(p.zone);
          if (!d) {
            d = p.digests();
            read.set(p.zone, d);
          }
          return d;
        },
        shardRecords: (shard) => p.shardRecords(shard),
        repair: (states) => p.repair(states),
      });
      const stores = [...this.replicators.values()]
        .map((r) => r.store)
        .filter((s) => !this.isDown(s.zone))
        .map(once);
      const pairs: [DigestPeer, DigestPeer][] = [];
      for (let i = 0; i < stores.length; i++)
        for (let j = i + 1; j < stores.length; j++) pairs.push([stores[i]!, stores[j]!]);
      const log = this.opts.log;
      if (log.remotePeer)
        for (const s of stores)
          for (const z of this.opts.topology.zones)
            if (!this.replicators.has(z.name) && !this.isDown(z.name) && s.zone < z.name)
              pairs.push([s, once(log.remotePeer(z.name))]);
      for (const [a, b] of pairs) {
        if (only !== undefined && a.zone !== only && b.zone !== only) continue;
        try {
          const r = await antiEntropyPass(a, b);
          if (r.repaired > 0) forget(a.zone, b.zone);
          total.shards += r.shards;
          total.repaired += r.repaired;
        } catch (e) {
          forget(a.zone, b.zone);
          // a zone that is down is compared next time
          this.counters.errors++;
          this.opts.logger?.debug({ err: e, a: a.zone, b: b.zone }, 'anti-entropy pass failed');
        }
      }
      this.counters.repaired += total.repaired;
      return total;
    } finally {
      this.aeRunning = false;
    }
  }

  /**
   * Prunes each local zone's change log up to what every other zone has applied (and this
   * zone has shipped), keeping `keepChanges` entries behind that. Returns entries removed.
   */
  async prune(): Promise<number> {
    const keep = this.opts.keepChanges ?? 10_000;
    let removed = 0;
    for (const zone of this.zones()) {
      const r = this.replicator(zone);
      let floor = await r.store.shipped();
      for (const d of this.opts.topology.zones) {
        if (d.name === zone) continue;
        const local = this.replicators.get(d.name);
        const at = local ? await local.store.cursor(zone) : ((await this.opts.log.ackedUpTo(zone, d.name)) ?? 0);
        floor = Math.min(floor, at);
      }
      if (floor - keep > 0) removed += await r.store.pruneChanges(floor - keep);
    }
    return removed;
  }

  /**
   * For drills: the RPO snapshot of `zone` against this process's other zones, taken at
   * the moment it fails (call before stopping it).
   */
  async rpoAtFailure(zone: string): Promise<RpoSnapshot> {
    const peers = this.zones()
      .filter((z) => z !== zone)
      .map((z) => this.replicator(z).store);
    return rpoAtFailure(this.replicator(zone).store, peers, this.opts.clock);
  }

  /**
   * For drills: after the zone returned at `returnedAt` (clock.now()), waits until every
   * write of the snapshot is applied or locked in every other zone; reports RPO, WRT and lost.
   */
  async compensation(snapshot: RpoSnapshot, returnedAt: number, timeoutMs = 60_000): Promise<CompensationReport> {
    const peers = this.zones()
      .filter((z) => z !== snapshot.zone)
      .map((z) => this.replicator(z).store);
    return measureCompensation({ snapshot, peers, clock: this.opts.clock, returnedAt, timeoutMs });
  }

  /** Resolves once every link's lag is 0, or throws ERR_REPL_LAG_EXCEEDED after timeoutMs. */
  async waitForCatchUp(timeoutMs: number, pollMs = 10): Promise<void> {
    const clock = this.opts.clock;
    const end = clock.now() + timeoutMs;
    for (;;) {
      const links = await this.links();
      if (links.every((l) => l.records === 0)) return;
      if (clock.now() >= end)
        throw replicationErrors.ERR_REPL_LAG_EXCEEDED(`replication still behind after ${timeoutMs} ms`, {
          details: { links: links.filter((l) => l.records > 0) },
        });
      await clock.sleep(pollMs);
    }
  }
}
