/**
 * The process registry: every cluster process publishes what it runs (zones, control URL,
 * listeners, replication links) in the control Kv under `cluster.proc.<id>`, so any zone's
 * control API and dashboard show the whole cluster, not only their own process.
 */

import type { ControlApi } from '../control/index.ts';
import type { Clock, Timer } from '../core/clock.ts';
import { within } from '../core/deadline.ts';
import type { Logger } from '../core/logger.ts';
import type { Random } from '../core/random.ts';
import type { LinkLag } from '../replication/index.ts';
import type { Kv } from '../shardmap/index.ts';
import type { ListenerInfo } from './services.ts';

/** Kv prefix of the process records. */
export const PROC_PREFIX = 'cluster.proc.';
/** How long an API read of the others may wait on the Kv (a heartbeat waits callTimeoutMs). */
export const VIEW_TIMEOUT_MS = 5000;

/** A record not refreshed for this many intervals is shown `alive: false` (and its listeners left out). */
export const STALE_INTERVALS = 3;
/** A record dead this long is deleted by whichever process reads it: crashed runs don't pile up forever. */
export const PRUNE_MS = 60 * 60_000;

/** One replication link of a process's zone, as published: outgoing lag and its state. */
export interface LinkSummary {
  from: string;
  to: string;
  /** Records written in `from` that `to` has not applied. */
  records: number;
  /** Age of the oldest of them. */
  seconds: number;
  state: 'ok' | 'behind' | 'down';
}

/** What a process publishes at `cluster.proc.<id>`. */
export interface ProcessRecord {
  id: string;
  zones: string[];
  /** Base URL of its control API ('http://127.0.0.1:7070'). */
  control: string;
  pid: number;
  hostname: string;
  /** Wall ms. */
  startedAt: number;
  /** Wall ms of the heartbeat that wrote this record. */
  at: number;
  listeners: ListenerInfo[];
  links: LinkSummary[];
}

/** A record as GET /api/cluster shows it. */
export interface ProcessView extends ProcessRecord {
  alive: boolean;
  /** The process answering the request. */
  here: boolean;
}

/** A listener of some process, as GET /api/endpoints lists it; a `control` entry carries that process's zones. */
export type Endpoint = ListenerInfo & { process: string; zones?: string[] };

/** A stable id for one run of a process: its zones and a random suffix ('sh-a_k3x9a2'); only key-safe characters. */
export function processId(zones: readonly string[], random: Random): string {
  const safe = zones.map((z) => z.replace(/[^A-Za-z0-9=-]/g, '-'));
  return [...safe, random.int(1 << 30).toString(36)].join('_');
}

export function procKey(id: string): string {
  return `${PROC_PREFIX}${id}`;
}

/** Replication's per-link lag, reduced to what the registry publishes. */
export function summarizeLinks(links: readonly LinkLag[]): LinkSummary[] {
  return links.map((l) => ({
    from: l.origin,
    to: l.dest,
    records: l.records,
    seconds: l.seconds,
    state: l.down ? 'down' : l.records > 0 ? 'behind' : 'ok',
  }));
}

/** A record read from the Kv, or null when it is not one (another version, garbage): never trusted blindly. */
export function decodeRecord(text: string): ProcessRecord | null {
  let v: Partial<ProcessRecord>;
  try {
    v = JSON.parse(text) as Partial<ProcessRecord>;
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  if (typeof v.id !== 'string' || typeof v.at !== 'number' || typeof v.control !== 'string') return null;
  if (!Array.isArray(v.zones) || !Array.isArray(v.listeners)) return null;
  return { ...(v as ProcessRecord), links: Array.isArray(v.links) ? v.links : [] };
}

/** True when the record was refreshed within STALE_INTERVALS intervals of wallNow. */
export function isAlive(r: ProcessRecord, wallNow: number, intervalMs: number): boolean {
  return wallNow - r.at <= STALE_INTERVALS * intervalMs;
}

/** Own process first (always alive: it answers), then the live others, then the dead, each by id. */
export function clusterView(
  own: ProcessRecord,
  others: Iterable<ProcessRecord>,
  wallNow: number,
  intervalMs: number,
): ProcessView[] {
  const rest = [...others]
    .filter((r) => r.id !== own.id)
    .map((r) => ({ ...r, alive: isAlive(r, wallNow, intervalMs), here: false }))
    .sort((a, b) => Number(b.alive) - Number(a.alive) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [{ ...own, alive: true, here: true }, ...rest];
}

/**
 * Every live process's listeners, in view order (own first, in the order they started), each
 * tagged with its process; a listener two records claim (same zone, role, address) is listed once.
 */
export function mergeEndpoints(view: readonly ProcessView[]): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const p of view) {
    if (!p.alive) continue;
    for (const l of p.listeners) {
      const k = `${l.zone ?? ''} ${l.role} ${l.protocol} ${l.host} ${l.port}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(l.role === 'control' ? { ...l, process: p.id, zones: [...p.zones] } : { ...l, process: p.id });
    }
  }
  return out;
}

export interface ProcessRegistryOptions {
  kv: Kv;
  clock: Clock;
  logger: Logger;
  id: string;
  zones: readonly string[];
  /** This process's control API URL, known once it listens. */
  control: () => string | undefined;
  listeners: () => readonly ListenerInfo[];
  /** Replication's links of this process's zones. */
  links: () => Promise<readonly LinkLag[]>;
  /** How often the record is refreshed (and others' are read). */
  intervalMs: number;
  pid: number;
  hostname: string;
  /** How long a Kv call may hold up startup, shutdown or an API answer. Default min(intervalMs, 1000). */
  callTimeoutMs?: number;
}

/**
 * Publishes this process's record every interval and keeps the others' last-read records.
 * The Kv is never on the critical path: every call is bounded by callTimeoutMs, a failure is
 * logged once per outage (the next tick retries), and while the Kv fails the API answers
 * from what it last read, its own listeners always current.
 */
export class ProcessRegistry {
  private timer: Timer | undefined;
  private ticking: Promise<void> | undefined;
  private reading: Promise<void> | undefined;
  private readonly others = new Map<string, ProcessRecord>();
  private links: LinkSummary[] = [];
  private lastPublished: number | undefined;
  private failing = false;
  private stopped = false;
  private readonly startedAt: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly o: ProcessRegistryOptions) {
    this.startedAt = o.clock.wallTime();
    this.callTimeoutMs = o.callTimeoutMs ?? Math.min(o.intervalMs, 1000);
  }

  get id(): string {
    return this.o.id;
  }

  get key(): string {
    return procKey(this.o.id);
  }

  /** This process's record now; `at` is its last published heartbeat (the start before the first). */
  record(): ProcessRecord {
    return this.build(this.lastPublished ?? this.startedAt);
  }

  /** Publishes now (bounded: a Kv out of reach does not hold startup), then every interval. */
  async start(): Promise<void> {
    this.timer?.cancel();
    this.timer = this.o.clock.setInterval(this.o.intervalMs, () => void this.tick());
    await this.bounded(this.tick());
  }

  /** Stops refreshing and deletes the record (bounded; a Kv out of reach leaves it to age out). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.bounded(this.ticking);
    await this.bounded(this.o.kv.delete(this.key));
  }

  /** Every known process, own first; others as last read (read again now unless the Kv is failing). */
  async view(): Promise<ProcessView[]> {
    // someone asked and waits for the answer: a busy Kv gets longer than a heartbeat's bound
    if (!this.failing) await this.bounded(this.read(), VIEW_TIMEOUT_MS);
    return clusterView(this.record(), this.others.values(), this.o.clock.wallTime(), this.o.intervalMs);
  }

  /** Own listeners as they are now, then every other live process's published ones. */
  async endpoints(): Promise<Endpoint[]> {
    return mergeEndpoints(await this.view());
  }

  /** One heartbeat: publish, then read the others; concurrent calls share it. */
  tick(): Promise<void> {
    this.ticking ??= this.doTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async doTick(): Promise<void> {
    try {
      this.links = summarizeLinks(await this.within(this.o.links()));
    } catch (e) {
      // a store out of reach: publish the links as last known
      this.o.logger.debug({ err: e }, 'registry: cannot read replication links');
    }
    if (this.stopped) return;
    const wall = this.o.clock.wallTime();
    try {
      await this.within(this.o.kv.put(this.key, JSON.stringify(this.build(wall))));
      this.lastPublished = wall;
      await this.read();
      if (this.failing) this.o.logger.info(`registry: the control Kv answers again; ${this.key} published`);
      this.failing = false;
    } catch (e) {
      if (!this.failing)
        this.o.logger.warn(
          { err: e },
          `registry: cannot publish ${this.key} in the control Kv; retrying every ${this.o.intervalMs} ms`,
        );
      this.failing = true;
    }
  }

  /** Reads every other record into `others`; concurrent calls share it. Throws when the Kv fails or hangs. */
  private read(): Promise<void> {
    this.reading ??= this.within(this.doRead(), VIEW_TIMEOUT_MS).finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async doRead(): Promise<void> {
    const { kv, clock } = this.o;
    const found = new Map<string, ProcessRecord>();
    const keys = (await kv.keys(PROC_PREFIX)).filter((k) => k !== this.key);
    // one round trip for all of them, not one per process
    const entries = await Promise.all(keys.map((k) => kv.get(k)));
    for (const [i, e] of entries.entries()) {
      const r = e?.value ? decodeRecord(e.value) : null;
      if (!e || !r) continue;
      if (clock.wallTime() - r.at > PRUNE_MS) {
        void kv.delete(keys[i]!, { expect: e.revision }).catch(() => {});
        continue;
      }
      found.set(r.id, r);
    }
    this.others.clear();
    for (const [id, r] of found) this.others.set(id, r);
  }

  private build(at: number): ProcessRecord {
    const o = this.o;
    return {
      id: o.id,
      zones: [...o.zones],
      control: o.control() ?? '',
      pid: o.pid,
      hostname: o.hostname,
      startedAt: this.startedAt,
      at,
      listeners: o.listeners().map((l) => ({ ...l })),
      links: this.links,
    };
  }

  /** p, or a rejection once callTimeoutMs pass first: a Kv that hangs counts as one that fails. */
  private within<T>(p: Promise<T>, ms = this.callTimeoutMs): Promise<T> {
    return within(this.o.clock, p, ms, `the control Kv did not answer within ${ms} ms`);
  }

  /** Waits for p at most callTimeoutMs, swallowing its failure (the caller's state says what happened). */
  private async bounded(p: Promise<unknown> | undefined, ms = this.callTimeoutMs): Promise<void> {
    if (p) await this.within(p, ms).catch(() => {});
  }
}

/** GET /api/cluster (every process, own first) and GET /api/endpoints (every live process's listeners). */
export function registerRegistryRoutes(control: ControlApi, registry: ProcessRegistry): void {
  control.route('GET', '/api/cluster', async () => ({ processes: await registry.view() }));
  control.route('GET', '/api/endpoints', async () => ({ endpoints: await registry.endpoints() }));
}
