import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock, Timer } from '../../core/clock.ts';
import { within } from '../../core/deadline.ts';
import type { Logger } from '../../core/logger.ts';
import type { Kv, KvEntry, KvWatch } from '../../shardmap/index.ts';
import type { Topology, TopologyConfig } from '../../topology/index.ts';
import type { MutableSteeringState } from '../mutable-state.ts';
import { LISTENERS, type LoadListener, LoadMeter } from './meter.ts';
import { Shedder } from './shedder.ts';
import { decodeLoad, encodeLoad, LOAD_PREFIX, type LoadRecord, loadKey, parseLoadKey } from './wire.ts';

/** The `steering.load` settings. */
export type LoadConfig = TopologyConfig['steering']['load'];

/** A load record not refreshed for this many intervals counts no more: a stopped process must not shed forever. */
export const STALE_INTERVALS = 5;

/** A zone of this process started or stopped shedding. */
export interface ShedChange {
  zone: string;
  shedding: boolean;
  /** Requests/s compared with the capacity when it changed. */
  load: number;
  capacity: number;
  /** Where the share is heading (0..1). */
  target: number;
  /** One line for people: why. */
  reason: string;
}

/** One zone as GET /api/load shows it. */
export interface ZoneLoadView {
  zone: string;
  capacity: number;
  /** Requests/s compared with the capacity: the busier of the zone's edge and router. */
  load: number;
  edge: number;
  router: number;
  /** The share of the zone's clients steered to the next tier now, and where it is heading. */
  share: number;
  target: number;
  shedding: boolean;
  /** Over capacity or shedding: no other zone sheds its clients to it. */
  over: boolean;
  /** The processes whose fresh records make up the load. */
  processes: string[];
  /** The zone runs in this process. */
  local: boolean;
}

/** GET /api/load. */
export interface LoadReport {
  intervalMs: number;
  halfLifeSeconds: number;
  lowMark: number;
  slewPerSecond: number;
  staleMs: number;
  /** Some zone is over capacity and no zone that is up has room: answers follow preference (fail-open). */
  exhausted: boolean;
  zones: ZoneLoadView[];
}

export interface ZoneLoadsOptions {
  kv: Kv;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  topology: Topology;
  /** The zones this process runs: it measures and publishes their load. */
  localZones: readonly string[];
  /** Where every zone's load and shed share go, for DNS and HTTPDNS. */
  state: MutableSteeringState;
  /** This process's id (the registry's): records are `load.<zone>.<id>`. */
  processId: string;
  /** Default: the topology's `steering.load`. */
  config?: LoadConfig;
  /** A local zone started or stopped shedding; default: an info log line. */
  onChange?(e: ShedChange): void;
}

interface Held {
  zone: string;
  process: string;
  rec: LoadRecord;
}

interface Metrics {
  load: Gauge<'zone'>;
  listener: Gauge<'zone' | 'listener'>;
  capacity: Gauge<'zone'>;
  share: Gauge<'zone'>;
  changes: Counter<'zone' | 'change'>;
  exhausted: Gauge;
}

/**
 * Capacity steering fed by real load. Each process counts its zones' requests at their edge
 * and router (`hit`), and every interval publishes their averaged rates in the control Kv
 * (`load.<zone>.<process>`, the Kv the shard map, votes and process records use) and reads
 * everyone else's through a watch. From the fresh records of a zone, summed over the processes
 * running it, every process steps the zone's Shedder (hysteresis, slew) and hands the share to
 * steering, so the DNS and HTTPDNS of every zone shed alike. A record whose measurement is
 * older than STALE_INTERVALS intervals counts no more; a clean stop deletes its records.
 * The Kv is never on the critical path: a failure is logged once per outage and retried, and
 * the zones of this process are stepped from their own measurements meanwhile.
 */
export class ZoneLoads {
  readonly config: LoadConfig;
  readonly staleMs: number;
  private readonly meter: LoadMeter;
  private readonly shedders = new Map<string, Shedder>();
  private readonly held = new Map<string, Held>();
  private readonly metrics: Metrics | undefined;
  private timer: Timer | undefined;
  private watch: KvWatch | undefined;
  private attached = false;
  private attaching = false;
  private publishing = false;
  private failing = false;
  private stopped = false;
  private exhausted = false;
  private lastStep: number;

  constructor(private readonly o: ZoneLoadsOptions) {
    this.config = o.config ?? o.topology.config.steering.load;
    this.staleMs = STALE_INTERVALS * this.config.intervalMs;
    this.meter = new LoadMeter(o.clock, this.config.halfLifeSeconds * 1000);
    for (const z of o.topology.zones)
      this.shedders.set(
        z.name,
        new Shedder({ capacity: z.capacity, lowMark: this.config.lowMark, slewPerSecond: this.config.slewPerSecond }),
      );
    this.metrics = o.metrics ? loadMetrics(o.metrics) : undefined;
    this.lastStep = o.clock.now();
  }

  /** A request (or `n`, counted by another process of the zone) arrived at a local zone's edge or router. */
  hit(zone: string, listener: LoadListener, n = 1): void {
    this.meter.hit(zone, listener, n);
  }

  /** Starts measuring, publishing and stepping every interval; attaches to the Kv in the background. */
  start(): void {
    this.timer?.cancel();
    this.lastStep = this.o.clock.now();
    this.timer = this.o.clock.setInterval(this.config.intervalMs, () => this.tick());
    void this.attach();
  }

  /** Stops, and deletes this process's records (bounded: a Kv out of reach leaves them to go stale). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.watch?.stop();
    this.watch = undefined;
    const keys = this.o.localZones.map((z) => loadKey(z, this.o.processId));
    await this.within(Promise.all(keys.map((k) => this.o.kv.delete(k)))).catch(() => {});
  }

  /** One interval: measure, publish, forget stale records, step every zone's share. */
  tick(): void {
    const { clock, kv, processId } = this.o;
    const wall = clock.wallTime();
    this.meter.tick();
    const puts: Promise<number>[] = [];
    for (const zone of this.o.localZones) {
      // rounded as published, so this process steers by the same figures as the others
      const rec: LoadRecord = {
        edge: round2(this.meter.rate(zone, 'edge')),
        router: round2(this.meter.rate(zone, 'router')),
        at: wall,
      };
      const key = loadKey(zone, processId);
      this.held.set(key, { zone, process: processId, rec }); // our own, without the round trip
      if (this.attached && !this.publishing) puts.push(kv.put(key, encodeLoad(rec)));
    }
    if (puts.length > 0) {
      this.publishing = true;
      void this.within(Promise.all(puts))
        .then(
          () => this.reached(),
          (e: unknown) => this.failed(e),
        )
        .finally(() => {
          this.publishing = false;
        });
    }
    if (!this.attached) void this.attach();
    this.sweep(wall);
    const now = clock.now();
    this.step((now - this.lastStep) / 1000);
    this.lastStep = now;
  }

  /** Every zone's load and shed share as this process sees them. */
  report(): LoadReport {
    const c = this.config;
    return {
      intervalMs: c.intervalMs,
      halfLifeSeconds: c.halfLifeSeconds,
      lowMark: c.lowMark,
      slewPerSecond: c.slewPerSecond,
      staleMs: this.staleMs,
      exhausted: this.exhausted,
      zones: this.o.topology.zones.map((z) => this.view(z.name)),
    };
  }

  private view(zone: string): ZoneLoadView {
    const sum = this.sum(zone);
    const s = this.shedders.get(zone)!;
    const load = Math.max(sum.edge, sum.router);
    return {
      zone,
      capacity: s.capacity,
      load: round2(load),
      edge: round2(sum.edge),
      router: round2(sum.router),
      share: s.share,
      target: Math.round(s.target(load) * 1000) / 1000,
      shedding: s.shedding,
      over: s.shedding || load > s.capacity,
      processes: sum.processes,
      local: this.o.localZones.includes(zone),
    };
  }

  /** A zone's fresh records summed: each process counts only the requests it served. */
  private sum(zone: string): { edge: number; router: number; processes: string[] } {
    let edge = 0;
    let router = 0;
    const processes: string[] = [];
    for (const h of this.held.values()) {
      if (h.zone !== zone) continue;
      edge += h.rec.edge;
      router += h.rec.router;
      processes.push(h.process);
    }
    return { edge, router, processes: processes.sort() };
  }

  private step(dtSeconds: number): void {
    const { state, logger } = this.o;
    const m = this.metrics;
    for (const z of this.o.topology.zones) {
      const sum = this.sum(z.name);
      // an edge's dynamic requests reach the router too: the busier door, not the sum, is the load
      const load = Math.max(sum.edge, sum.router);
      const s = this.shedders.get(z.name)!;
      const change = s.step(load, dtSeconds);
      const over = s.shedding || load > s.capacity;
      state.setShed(z.name, { load, share: s.share, over });
      if (m) {
        m.load.set({ zone: z.name }, round2(load));
        for (const l of LISTENERS)
          m.listener.set({ zone: z.name, listener: l }, round2(l === 'edge' ? sum.edge : sum.router));
        m.capacity.set({ zone: z.name }, s.capacity);
        m.share.set({ zone: z.name }, s.share);
      }
      if (change && this.o.localZones.includes(z.name)) {
        m?.changes.inc({ zone: z.name, change });
        this.changed(z.name, change === 'start', load, s);
      }
    }
    const down = new Set(state.downEndpoints().map((id) => id.split('/')[0]));
    const views = this.o.topology.zones.map((z) => ({ zone: z.name, over: state.shed(z.name)?.over ?? false }));
    const exhausted = views.some((v) => v.over) && views.every((v) => v.over || down.has(v.zone));
    m?.exhausted.set(exhausted ? 1 : 0);
    if (exhausted !== this.exhausted) {
      this.exhausted = exhausted;
      if (exhausted)
        logger.warn(
          { over: views.filter((v) => v.over).map((v) => v.zone), down: [...down] },
          'steering: every zone is over capacity or down: nowhere to shed, answers follow preference (fail-open)',
        );
      else logger.info('steering: a zone has room again: over-capacity zones shed to it');
    }
  }

  private changed(zone: string, shedding: boolean, load: number, s: Shedder): void {
    const lowMark = rps(this.config.lowMark * s.capacity);
    const target = Math.round(s.target(load) * 1000) / 1000;
    const reason = shedding
      ? `over capacity (load ${rps(load)} rps > ${s.capacity}): starts shedding, heading for ${Math.round(target * 100)} % of its clients to the next tier`
      : `back under capacity (load ${rps(load)} rps < ${lowMark}, the low mark): stops shedding`;
    const e: ShedChange = { zone, shedding, load: round2(load), capacity: s.capacity, target, reason };
    if (this.o.onChange) this.o.onChange(e);
    else this.o.logger.info({ zone, load: e.load, capacity: s.capacity, target }, `steering: ${zone} ${reason}`);
  }

  /** A record from the Kv: others' only (ours is held without the round trip); never older than the one held. */
  private apply(e: KvEntry): void {
    const k = parseLoadKey(e.key);
    if (!k || k.process === this.o.processId || !this.o.topology.hasZone(k.zone)) return;
    if (e.value === null) {
      this.held.delete(e.key);
      return;
    }
    const rec = decodeLoad(e.value);
    if (!rec) return;
    const was = this.held.get(e.key);
    if (was && rec.at <= was.rec.at) return; // a replay or re-delivery: no going back in time
    if (!this.fresh(rec.at, this.o.clock.wallTime())) return;
    this.held.set(e.key, { zone: k.zone, process: k.process, rec });
  }

  /** Judged by the measurement's wall time, also against a sender clock too far ahead. */
  private fresh(at: number, wall: number): boolean {
    return Math.abs(wall - at) <= this.staleMs;
  }

  private sweep(wall: number): void {
    for (const [key, h] of this.held) if (!this.fresh(h.rec.at, wall)) this.held.delete(key);
  }

  private async attach(): Promise<void> {
    if (this.attaching || this.attached || this.stopped) return;
    this.attaching = true;
    const { kv } = this.o;
    try {
      const w = await this.within(kv.watch(LOAD_PREFIX, (e) => this.apply(e)));
      if (this.stopped) return w.stop();
      this.watch = w;
      const keys = await this.within(kv.keys(LOAD_PREFIX));
      const entries = await this.within(Promise.all(keys.map((k) => kv.get(k))));
      for (const e of entries) if (e) this.apply(e);
      this.attached = true;
      this.reached();
    } catch (e) {
      this.watch?.stop();
      this.watch = undefined;
      this.failed(e);
    } finally {
      this.attaching = false;
    }
  }

  private reached(): void {
    if (this.failing) this.o.logger.info('steering: the control Kv answers again; sharing zone loads');
    this.failing = false;
  }

  private failed(e: unknown): void {
    if (!this.failing && !this.stopped)
      this.o.logger.warn(
        { err: e },
        `steering: cannot share zone loads through the control Kv; retrying every ${this.config.intervalMs} ms (other zones' loads age out after ${this.staleMs} ms)`,
      );
    this.failing = true;
  }

  /** p, or a rejection once an interval (at least 1 s) passes first: a Kv that hangs counts as one that fails. */
  private within<T>(p: Promise<T>): Promise<T> {
    const ms = Math.max(1000, this.config.intervalMs);
    return within(this.o.clock, p, ms, `the control Kv did not answer within ${ms} ms`);
  }
}

/** Requests/s for a log line: whole above 100, one decimal below (60.3 > 60 must not read "60 > 60"). */
function rps(x: number): number {
  return x >= 100 ? Math.round(x) : Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Registers the metrics once per registry (a second ZoneLoads on the same registry reuses them). */
function loadMetrics(registry: Registry): Metrics {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
    get(name, () => new Gauge<L>({ name, help, labelNames, registers: [registry] }));
  return {
    load: gauge(
      'mz_steering_load_rps',
      'Requests/s compared with the zone capacity: the busier of its edge and router',
      ['zone'],
    ),
    listener: gauge('mz_steering_listener_rps', 'Requests/s at a zone listener (EWMA), summed over its processes', [
      'zone',
      'listener',
    ]),
    capacity: gauge('mz_steering_capacity_rps', 'The zone capacity in requests/s', ['zone']),
    share: gauge('mz_steering_shed_ratio', 'Share of the zone clients steered to the next tier (0..1)', ['zone']),
    changes: get(
      'mz_steering_shed_changes_total',
      () =>
        new Counter({
          name: 'mz_steering_shed_changes_total',
          help: 'A zone of this process started or stopped shedding',
          labelNames: ['zone', 'change'],
          registers: [registry],
        }),
    ),
    exhausted: get(
      'mz_steering_capacity_exhausted',
      () =>
        new Gauge({
          name: 'mz_steering_capacity_exhausted',
          help: '1 while some zone is over capacity and every zone is over capacity or down: answers follow preference',
          registers: [registry],
        }),
    ),
  };
}
