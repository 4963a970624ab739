import { Counter, Gauge } from 'prom-client';
import type { Clock, Timer } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import type { Topology, TopologyConfig } from '../topology/index.ts';

type FailoverConfig = TopologyConfig['failover'];

import { GLOBAL, type Leadership, type ShardId, type ShardMap, shardmapErrors } from '../shardmap/index.ts';
import type { AuditLog } from './audit.ts';
import { failoverErrors } from './errors.ts';
import { planGlobal, planMoves } from './placement.ts';

/** Zone verdicts as the health plane publishes them (the runtime's `services.health`). */
export interface HealthVerdicts {
  zoneUp(zone: string): boolean;
  /** The probers voting the zone down, of how many fresh votes (the audit says who declared it). */
  zoneVotes?(zone: string): { down: string[]; counted: number } | undefined;
  onZoneChange?(listener: (zone: string, up: boolean) => void): unknown;
}

/** Replication's lag hook (the runtime's `services.data.replication`): unshipped changes of a zone. */
export interface ReplicationHook {
  /** Records of `zone` not yet applied by every live zone, or by the zones of `to` when given. */
  lagFor?(zone: string, to?: readonly string[]): number | Promise<number>;
}

/**
 * A zone's failover state (STYLE §2d): healthy → suspect → failing → failed → recovered,
 * or healthy → draining → failed for a planned failover; failback returns it to healthy.
 */
export type ZoneState = 'healthy' | 'suspect' | 'failing' | 'failed' | 'recovered' | 'draining';

/** Who declared a zone down: the probers voting it down of how many fresh votes, or the controller's direct check. */
export type DeclaredBy = { probers: string[]; of: number } | 'direct';

/** What an unplanned failover moves, as its verdict in the audit log says it. */
export interface MovesSummary {
  shards: number;
  /** The zone held the global writer role, which moves too. */
  global: boolean;
  /** The zones taking its shards. */
  to: string[];
  /** The highest epoch a moved shard gets. */
  epoch: number;
}

export interface ControllerOptions {
  topology: Topology;
  /** The authoritative (unpartitioned) view of the shard map. */
  map: ShardMap;
  audit: AuditLog;
  clock: Clock;
  config: FailoverConfig;
  logger?: Logger;
  /** Direct check of a zone (its router); undefined = nothing to check yet (no verdict change). */
  probe(zone: string): Promise<boolean | undefined>;
  health?(): HealthVerdicts | undefined;
  replication?(): ReplicationHook | undefined;
  /** Called when the controller declares a zone down or up again (steering marks endpoints). */
  onVerdict?(zone: string, up: boolean): void;
  /**
   * The control plane's election: only the leader declares zones failed and moves shards,
   * with its term as the fencing token of every shard map write. Absent: this controller
   * is the only one (a single process), and leads.
   */
  leader?: Leadership;
  metrics?: Registry;
}

interface ZoneRec {
  state: ZoneState;
  since: number;
  up: boolean;
  probing: boolean;
  /**
   * Since when (monotonic) this process has seen the zone down without a break, leading or
   * not; undefined while it is seen up. A new leader counts `after` from here.
   */
  downSince: number | undefined;
}

/** How many leases a cleanly stopped zone process has to come back before it is failed over. */
const RESTART_LEASES = 10;
/** How long a never-leased zone stays down before the controller says so (see neverLeased). */
const NEVER_LEASED_NOTICE_MS = 60_000;

/** Watches zone verdicts and moves shards with epoch+1; planned failover and failback. */
export class FailoverController {
  private readonly zones = new Map<string, ZoneRec>();
  private timer: Timer | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly held = new Set<string>();
  private readonly moves: Counter<'from' | 'to' | 'kind'> | undefined;
  private leading = false;
  private readonly upGauge: Gauge<'zone'> | undefined;

  constructor(private readonly o: ControllerOptions) {
    for (const z of o.topology.zones)
      this.zones.set(z.name, { state: 'healthy', since: 0, up: true, probing: false, downSince: undefined });
    if (o.metrics) {
      this.moves = new Counter({
        name: 'mz_failover_moves_total',
        help: 'Shards moved between zones, by kind (unplanned, planned)',
        labelNames: ['from', 'to', 'kind'],
        registers: [o.metrics],
      });
      this.upGauge = new Gauge({
        name: 'mz_failover_zone_up',
        help: "The controller's verdict per zone (1 up, 0 down)",
        labelNames: ['zone'],
        registers: [o.metrics],
      });
    }
  }

  start(): void {
    this.timer = this.o.clock.setInterval(this.o.config.check.intervalMs, () => this.tick());
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  /** Zone → state, for GET /api/shardmap. */
  states(): Record<string, { state: ZoneState; up: boolean; sinceMs: number }> {
    const out: Record<string, { state: ZoneState; up: boolean; sinceMs: number }> = {};
    for (const [z, r] of this.zones) out[z] = { state: r.state, up: r.up, sinceMs: this.o.clock.now() - r.since };
    return out;
  }

  /** The current verdict for a zone, combined as `failover.verdicts` says. */
  isUp(zone: string): boolean {
    return this.zones.get(zone)?.up ?? false;
  }

  private healthUp(zone: string): boolean | undefined {
    const h = this.o.health?.();
    if (!h || typeof h.zoneUp !== 'function') return undefined;
    try {
      return h.zoneUp(zone);
    } catch {
      return undefined;
    }
  }

  private combine(zone: string, direct: boolean | undefined): boolean {
    const mode = this.o.config.verdicts;
    const health = mode === 'direct' ? undefined : this.healthUp(zone);
    if (health === undefined) return direct ?? true;
    if (mode === 'health' || direct === undefined) return health;
    return health && direct;
  }

  /** True while this controller may act: it leads the control plane (or is the only one). */
  leads(): boolean {
    return this.o.leader ? this.o.leader.isLeader() : true;
  }

  /**
   * Appends to the audit log, with the term the controller acted in. Never rejects: a control
   * Kv out of reach must not take the process down (an unhandled rejection would); the moves
   * that follow fail on their own and are retried.
   */
  private async record(e: Parameters<AuditLog['append']>[0]): Promise<void> {
    const term = this.term();
    try {
      await this.o.audit.append(term ? { ...e, term } : e);
    } catch (err) {
      this.o.logger?.warn({ err, action: e.action, zone: e.zone }, 'failover: cannot write the audit log');
    }
  }

  /** Planned moves are the leader's: another process's control API forwards them there. */
  private mustLead(what: string): void {
    if (this.leads()) return;
    const cur = this.o.leader?.current();
    throw failoverErrors.ERR_FAILOVER_NOT_LEADER(
      `${what}: this process does not lead the control plane${cur ? ` (term ${cur.term} is led by ${cur.zones.join(',') || cur.holder})` : ''}`,
      { details: { leader: cur?.control ?? null, term: cur?.term ?? null } },
    );
  }

  /** The term this controller's writes carry (undefined without an election: no fencing token). */
  private term(): number | undefined {
    return this.o.leader?.term();
  }

  /**
   * On taking the lead, zone states start from what the shard map says, not from what the
   * previous leader did: a zone that holds none of its home shards is failed over already (it
   * comes back through `recovered`, never failed again). Every other zone is healthy, or
   * suspect since this process first saw it down without a break while it followed: a leader
   * that takes over because the old one's zone died has watched that zone fail for a lease
   * already, and waiting `after` again only added to the RTO of a partition of the leader's
   * zone (still ≥ `after` of its own observations, and moves still wait for the lease to lapse).
   */
  private takeLead(): void {
    const home = this.o.topology.initialOwners();
    const now = this.o.clock.now();
    for (const [zone, rec] of this.zones) {
      const homes = home.filter((z) => z === zone).length;
      const held = this.o.map.ready() ? this.o.map.shardsOf(zone).length : homes;
      if (homes > 0 && held === 0) {
        rec.state = 'failed';
        rec.since = now;
      } else if (rec.downSince !== undefined) {
        rec.state = 'suspect';
        rec.since = rec.downSince;
      } else {
        rec.state = 'healthy';
        rec.since = now;
      }
    }
    this.ledSince = this.o.clock.wallTime();
    this.ledTerm = this.term() ?? 0;
    this.o.logger?.info({ term: this.term() }, 'failover: this process leads the control plane');
  }

  /** One round: refresh verdicts (probes run in the background) and advance each zone's state. */
  tick(): void {
    if (this.stopped) return;
    const leads = this.leads();
    // a lead regained in the same term (a renewal that came late under load, the Kv never lost
    // it) keeps what this controller saw; only a new term starts over from the map
    if (leads && !this.leading && this.o.leader && this.term() !== this.ledTerm) this.takeLead();
    this.leading = leads;
    const useDirect =
      this.o.config.verdicts !== 'health' || this.healthUp(this.o.topology.zones[0]!.name) === undefined;
    for (const [zone, rec] of this.zones) {
      if (!useDirect) {
        this.observe(rec, this.combine(zone, undefined));
        this.advance(zone, rec);
      } else if (!rec.probing) {
        rec.probing = true;
        void this.o
          .probe(zone)
          .catch(() => false)
          .then((up) => {
            rec.probing = false;
            if (up === undefined) return;
            this.observe(rec, this.combine(zone, up));
            this.upGauge?.labels(zone).set(rec.up ? 1 : 0);
            this.advance(zone, rec);
          });
      }
    }
  }

  /** Takes a verdict, leading or not (see ZoneRec.downSince). */
  private observe(rec: ZoneRec, up: boolean): void {
    rec.up = up;
    if (up) rec.downSince = undefined;
    else rec.downSince ??= this.o.clock.now();
  }

  private set(zone: string, rec: ZoneRec, state: ZoneState): void {
    this.o.logger?.debug({ zone, from: rec.state, to: state }, 'failover: zone state');
    rec.state = state;
    rec.since = this.o.clock.now();
  }

  private advance(zone: string, rec: ZoneRec): void {
    if (this.stopped || !this.leading) return;
    const now = this.o.clock.now();
    switch (rec.state) {
      case 'healthy':
        if (!rec.up) this.set(zone, rec, 'suspect');
        break;
      case 'suspect':
        if (rec.up) this.set(zone, rec, 'healthy');
        else if (now - rec.since >= this.o.config.after) {
          if (!this.lapsed(zone) || !this.mayFail(zone)) break;
          this.set(zone, rec, 'failing');
          this.o.onVerdict?.(zone, false);
          void this.serial(() => this.failZone(zone, rec)).catch((e) =>
            this.o.logger?.warn({ err: e, zone }, 'failover: moving shards failed; will retry'),
          );
        }
        break;
      case 'failed':
        if (rec.up) {
          this.set(zone, rec, 'recovered');
          this.o.onVerdict?.(zone, true);
          void this.record({
            action: 'verdict',
            zone,
            reason: 'zone is up again; failback moves its shards home',
          });
        }
        break;
      case 'recovered':
        if (!rec.up) this.set(zone, rec, 'failed');
        break;
      default:
        break;
    }
  }

  /**
   * A zone is failed over only once its process has stopped renewing its lease in the control
   * Kv: probes alone cannot tell a dead zone from one that is slow to start or cut off from
   * this prober. A zone that has never held a lease (its process never came up since the
   * control Kv was made) is not failed over automatically: processes start one after another,
   * minutes apart, and the first to start must not scramble the map; an operator moves such a
   * zone's shards with a planned failover (which needs no drain ack from a zone without a lease).
   */
  private readonly toldNeverLeased = new Set<string>();
  /** Wall time this controller last took the lead (0 without an election). */
  private ledSince = 0;
  /** The term this controller last took the lead in. */
  private ledTerm = 0;
  /** When this controller first saw each never-leased zone down (its monotonic clock). */
  private readonly neverLeasedSince = new Map<string, number>();

  /**
   * Says once per zone (log and audit) why a zone that never came up keeps its shards — but
   * only after NEVER_LEASED_NOTICE_MS: in a rolling start every later zone is "down and never
   * leased" for a while, and a line per zone per start is noise, not news.
   */
  private neverLeased(zone: string): false {
    if (this.toldNeverLeased.has(zone)) return false;
    const now = this.o.clock.now();
    const since = this.neverLeasedSince.get(zone) ?? now;
    this.neverLeasedSince.set(zone, since);
    if (now - since < NEVER_LEASED_NOTICE_MS) return false;
    this.toldNeverLeased.add(zone);
    const reason = `looks down and has never held a lease (for ${Math.round((now - since) / 1000)} s): not failed over automatically (start it, or run a planned failover)`;
    this.o.logger?.warn({ zone }, `failover: ${zone} ${reason}`);
    void this.record({ action: 'verdict', zone, reason });
    return false;
  }

  private lapsed(zone: string): boolean {
    const { map, config, clock } = this.o;
    const lease = map.lease(zone);
    // a single controller without an election has no other process to wait for
    if (!lease) return !this.o.leader || this.neverLeased(zone);
    if (map.leaseValid(zone)) return false;
    // a process that shut down cleanly is restarting (a rolling or full restart): it gets
    // RESTART_LEASES leases to come back before its zone counts as dead — counted from when this
    // leader took over at the earliest: in a restart of every process the zones stopped first
    // left long before a leader was back to watch them start again
    if (lease.left === undefined) return true;
    return clock.wallTime() - Math.max(lease.left, this.ledSince) >= RESTART_LEASES * config.leaseMs;
  }

  /**
   * The guard against cascades: at most maxFailedZones zones failed over at once (default a
   * minority). Beyond that the controller holds the zone in `suspect` and says so once.
   */
  private mayFail(zone: string): boolean {
    const limit = this.o.config.maxFailedZones ?? Math.max(1, Math.floor((this.zones.size - 1) / 2));
    let failed = 0;
    for (const [z, r] of this.zones) if (z !== zone && (r.state === 'failing' || r.state === 'failed')) failed++;
    if (failed < limit) {
      this.held.delete(zone);
      return true;
    }
    if (!this.held.has(zone)) {
      this.held.add(zone);
      this.o.logger?.warn(
        { zone, failed, limit },
        'failover: zone looks down, but too many zones are failed over already',
      );
      void this.record({
        action: 'verdict',
        zone,
        reason: `looks down, not failed over: ${failed} zone(s) already failed over (maxFailedZones ${limit})`,
      });
    }
    return false;
  }

  /** Runs operations one at a time (moves never interleave). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Unplanned: moves every shard of a dead zone to its live backups, fenced by its lease. */
  private async failZone(zone: string, rec: ZoneRec): Promise<void> {
    if (rec.state !== 'failing') return;
    const { map, topology, config } = this.o;
    const verdict = {
      action: 'verdict' as const,
      zone,
      reason: `zone down for ≥ ${config.after} ms`,
      declaredBy: this.declaredBy(zone),
    };
    let logged: Promise<void> | undefined;
    const lease = map.lease(zone);
    // fenced writes start only once the dead zone's lease is surely over (its clock may lag ours by skewMs)
    const notBefore = (lease?.expiresAt ?? 0) + config.skewMs;
    // logged while the shards move (the log must not delay the zone's users), with the moves planned
    const moved = await this.moveAway(zone, notBefore, 'zone down', (moves) => {
      logged = this.record({ ...verdict, moves });
      return logged;
    });
    if (!moved) {
      await (logged ?? this.record(verdict));
      this.set(zone, rec, 'suspect');
      throw failoverErrors.ERR_FAILOVER_NO_BACKUP(
        `failover: no live backup for ${zone} (backups ${topology.zone(zone).backups.join(', ')})`,
      );
    }
    this.set(zone, rec, 'failed');
  }

  /**
   * Who declared the zone down, for the audit: the health checker's probers (those voting it
   * down, of how many fresh votes) when their verdict is down, else the controller's own
   * direct check of the zone's router.
   */
  private declaredBy(zone: string): DeclaredBy {
    if (this.o.config.verdicts !== 'direct' && this.healthUp(zone) === false) {
      const v = this.o.health?.()?.zoneVotes?.(zone);
      if (v) return { probers: v.down, of: v.counted };
    }
    return 'direct';
  }

  /**
   * Moves zone's shards (and the global role) to its live backups. False when no backup is
   * alive. `planned` hears what will move (before anything does) and its promise is awaited
   * before the moves are logged: the verdict that carries it comes first in the audit log.
   */
  private async moveAway(
    zone: string,
    notBefore: number,
    reason: string,
    planned?: (moves: MovesSummary) => Promise<void>,
  ): Promise<boolean> {
    const { map, topology } = this.o;
    const z = topology.zone(zone);
    const alive = (n: string) => n !== zone && this.isUp(n);
    const shards = map.shardsOf(zone);
    const plan = planMoves(z, shards, topology.zones, alive);
    const globalTo = map.owner(GLOBAL).zone === zone ? planGlobal(z, topology.zones, alive) : undefined;
    if ((shards.length && !plan) || globalTo === null) return false;
    const targets = new Set([...(plan?.values() ?? []), ...(globalTo ? [globalTo] : [])]);
    const logged = planned?.({
      shards: shards.length,
      global: globalTo !== undefined,
      to: [...targets].sort(),
      // each shard's epoch goes up by one: the highest the move makes
      epoch: Math.max(0, ...shards.map((s) => map.owner(s).epoch + 1)),
    });
    const byTarget = new Map<string, [ShardId, number][]>();
    const add = (to: string, s: ShardId, epoch: number) => {
      if (!byTarget.has(to)) byTarget.set(to, []);
      byTarget.get(to)!.push([s, epoch]);
    };
    if (globalTo) add(globalTo, GLOBAL, (await map.move(GLOBAL, globalTo, { notBefore, term: this.term() })).epoch);
    // every shard is its own key: all moves at once, so the zone's users wait one Kv round trip,
    // not one per shard (16 in a row took ~0.5 s in the lab)
    const moved = await Promise.allSettled(
      [...(plan ?? [])].map(async ([s, to]) => ({
        s,
        to,
        epoch: (await map.move(s, to, { notBefore, term: this.term() })).epoch,
      })),
    );
    for (const r of moved) {
      if (r.status === 'fulfilled') add(r.value.to, r.value.s, r.value.epoch);
      else if (!hasCode(r.reason, shardmapErrors.ERR_FAILOVER_KV_CONFLICT)) throw r.reason;
    }
    // the verdict is logged before its moves
    await logged;
    for (const [to, list] of byTarget) {
      this.moves?.labels(zone, to, 'unplanned').inc(list.length);
      await this.record({ action: 'move', zone, from: zone, to, shards: list, notBefore, reason });
    }
    return true;
  }

  private async lagOf(zone: string, to?: readonly string[]): Promise<number> {
    const hook = this.o.replication?.();
    if (typeof hook?.lagFor !== 'function') return 0;
    return Number(await hook.lagFor(zone, to)) || 0;
  }

  /** Polls cond until true or the planned timeout; false on timeout. */
  private async waitFor(cond: () => boolean | Promise<boolean>): Promise<boolean> {
    const deadline = this.o.clock.now() + this.o.config.plannedTimeoutMs;
    for (;;) {
      if (await cond()) return true;
      if (this.o.clock.now() >= deadline) return false;
      await this.o.clock.sleep(Math.min(50, this.o.config.check.intervalMs));
    }
  }

  /**
   * Drains shards held by `holder`, waits until it has stopped writing them (its lease renewal
   * acknowledges the drained map revision, or its lease has lapsed) and its replication lag is
   * zero, then moves each shard to target(shard). On timeout the drain is undone.
   */
  private async plannedMove(holder: string, shards: ShardId[], target: (s: ShardId) => string, reason: string) {
    const { map } = this.o;
    let rev = 0;
    for (const s of shards) rev = Math.max(rev, (await map.setDraining(s, true, this.term())).revision);
    await this.record({ action: 'drain', zone: holder, reason, count: shards.length });
    const undrain = async (reason: string) => {
      for (const s of shards) await map.setDraining(s, false, this.term()).catch(() => {});
      await this.record({ action: 'undrain', zone: holder, reason });
    };
    let acked = false;
    let drained = false;
    try {
      acked = await this.waitFor(() => (map.lease(holder)?.seen ?? 0) >= rev || !map.leaseValid(holder));
      // RPO 0 for the move: the zones taking the shards hold every record of the holder
      const targets = [...new Set(shards.map(target))];
      drained = acked && (await this.waitFor(async () => (await this.lagOf(holder, targets)) === 0));
    } catch (e) {
      // a failing lag hook must not leave shards drained (no zone could write them)
      await undrain(`error: ${(e as Error).message}`);
      throw e;
    }
    if (!drained) {
      await undrain('timed out');
      throw failoverErrors.ERR_FAILOVER_LAG_TIMEOUT(
        `failover: ${holder} did not ${acked ? `reach replication lag 0 to ${[...new Set(shards.map(target))].join(', ')}` : 'acknowledge the drain'} within ${this.o.config.plannedTimeoutMs} ms`,
      );
    }
    const byTarget = new Map<string, [ShardId, number][]>();
    // a planned move needs no fence of its own, but may inherit one still pending (see ShardMap.move)
    let inherited = 0;
    for (const s of shards) {
      const to = target(s);
      const o = await map.move(s, to, { term: this.term() });
      inherited = Math.max(inherited, o.notBefore);
      if (!byTarget.has(to)) byTarget.set(to, []);
      byTarget.get(to)!.push([s, o.epoch]);
    }
    for (const [to, list] of byTarget) {
      this.moves?.labels(holder, to, 'planned').inc(list.length);
      await this.record({
        action: 'move',
        zone: holder,
        from: holder,
        to,
        shards: list,
        notBefore: inherited,
        reason,
      });
    }
  }

  /** Planned failover (RPO 0): stop writes on zone's shards, wait for lag 0, move them to backups. */
  failover(zone: string): Promise<{ moved: number }> {
    return this.serial(async () => {
      const { map, topology } = this.o;
      if (!topology.hasZone(zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`failover: unknown zone "${zone}"`);
      this.mustLead('failover');
      const rec = this.zones.get(zone)!;
      if (!this.isUp(zone) && this.lapsed(zone)) return this.failDeadZone(zone, rec);
      const z = topology.zone(zone);
      const alive = (n: string) => n !== zone && this.isUp(n);
      const shards: ShardId[] = map.shardsOf(zone);
      const plan = planMoves(z, shards as number[], topology.zones, alive);
      const globalTo = map.owner(GLOBAL).zone === zone ? planGlobal(z, topology.zones, alive) : undefined;
      if ((shards.length && !plan) || globalTo === null)
        throw failoverErrors.ERR_FAILOVER_NO_BACKUP(`failover: no live backup for ${zone}`);
      if (globalTo) shards.push(GLOBAL);
      this.set(zone, rec, 'draining');
      try {
        await this.plannedMove(zone, shards, (s) => (s === GLOBAL ? globalTo! : plan!.get(s)!), 'planned failover');
      } catch (e) {
        this.set(zone, rec, 'healthy');
        throw e;
      }
      this.set(zone, rec, 'failed');
      this.o.onVerdict?.(zone, false);
      await this.record({ action: 'failover', zone, reason: 'planned', count: shards.length });
      return { moved: shards.length };
    });
  }

  /**
   * A planned failover of a zone that is already dead: there is nothing to drain and its
   * backlog cannot shrink, so waiting for lag 0 would only hold the automatic failover for
   * `plannedTimeoutMs`. It moves as an unplanned one does, fenced by the zone's lease.
   */
  private async failDeadZone(zone: string, rec: ZoneRec): Promise<{ moved: number }> {
    const moved = this.o.map.shardsOf(zone).length + (this.o.map.owner(GLOBAL).zone === zone ? 1 : 0);
    this.set(zone, rec, 'failing');
    this.o.onVerdict?.(zone, false);
    await this.failZone(zone, rec);
    await this.record({
      action: 'failover',
      zone,
      reason: 'planned, but the zone is down: moved as unplanned',
      count: moved,
    });
    return { moved };
  }

  /** Failback: moves the zone's home shards (topology's initial owners) back, planned, RPO 0. */
  failback(zone: string): Promise<{ moved: number }> {
    return this.serial(async () => {
      const { map, topology } = this.o;
      if (!topology.hasZone(zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`failback: unknown zone "${zone}"`);
      this.mustLead('failback');
      if (!this.isUp(zone) || !map.leaseValid(zone))
        throw failoverErrors.ERR_FAILOVER_NOT_READY(`failback: ${zone} is not up with a valid lease yet`);
      const home = topology.initialOwners();
      const byHolder = new Map<string, ShardId[]>();
      const add = (holder: string, s: ShardId) => {
        if (!byHolder.has(holder)) byHolder.set(holder, []);
        byHolder.get(holder)!.push(s);
      };
      home.forEach((z, s) => {
        const cur = map.owner(s).zone;
        if (z === zone && cur !== zone) add(cur, s);
      });
      if (topology.coreZone === zone && map.owner(GLOBAL).zone !== zone) add(map.owner(GLOBAL).zone, GLOBAL);
      let moved = 0;
      for (const [holder, shards] of byHolder) {
        await this.plannedMove(holder, shards, () => zone, `failback to ${zone}`);
        moved += shards.length;
      }
      const rec = this.zones.get(zone)!;
      this.set(zone, rec, 'healthy');
      this.o.onVerdict?.(zone, true);
      await this.record({ action: 'failback', zone, count: moved });
      return { moved };
    });
  }
}
