/**
 * One zone's announcer: every `checkMs` it reads its inputs (the health verdict of each
 * prefix's role, the lease, drains), runs `decide` per prefix, and when a prefix's action
 * changes hands the speaker the new plan. Shutdown withdraws everything first, then waits
 * `withdrawGraceMs` for the network to converge, before the runtime closes any listener.
 */
import type { Clock, Timer } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { AnycastConfig } from '../topology/index.ts';
import { type Announcement, type BgpSession, sessionIndex } from './bird-conf.ts';
import type { Speaker } from './bird-driver.ts';
import {
  type AnycastAction,
  type AnycastDecision,
  type AnycastInputs,
  type DecisionState,
  decide,
  initialDecisionState,
} from './decision.ts';
import { anycastErrors } from './errors.ts';
import type { AnycastMetrics } from './metrics.ts';

/** How often the BGP sessions are read (ms), at most; every tick reads the cheap inputs. */
const SESSIONS_EVERY_MS = 2000;

/** What the announcer reads about its zone; the runtime wires these to the health plane and the shard map. */
export interface AnnouncerInputs {
  /** The health plane's quorum verdict of the zone's listener for `role`. */
  healthy(role: string): boolean;
  /** The zone holds its lease. */
  leaseHeld(): boolean;
  /** A planned failover drains or has taken the zone out (operator drains are the announcer's own). */
  failedOver(): boolean;
}

/** One prefix's state in a zone, as the control API shows it. */
export interface PrefixState {
  name: string;
  prefix: string;
  role: string;
  action: AnycastAction;
  reason: AnycastDecision['reason'];
  riseLeftMs?: number;
  /** Wall-clock ms of the last change of action. */
  since: number;
}

/** A zone's announcements and BGP sessions, as the control API shows them. */
export interface AnycastZoneState {
  zone: string;
  /** Drained by an operator (POST /api/anycast/drain). */
  drained: boolean;
  shuttingDown: boolean;
  prefixes: PrefixState[];
  sessions: BgpSession[];
  /** The last error applying a plan or reading the sessions, or null. */
  error: { code: string; message: string } | null;
}

/** Options of a zone's announcer. */
export interface AnnouncerOptions {
  zone: string;
  config: AnycastConfig;
  clock: Clock;
  speaker: Speaker;
  inputs: AnnouncerInputs;
  logger?: Logger;
  metrics?: AnycastMetrics;
}

/** The prefixes `zone` announces (those listing it, or listing no zones). */
export function prefixesOf(cfg: AnycastConfig, zone: string): { name: string; prefix: string; role: string }[] {
  if (!cfg.zones[zone]) return [];
  return Object.entries(cfg.prefixes)
    .filter(([, p]) => (p.zones ?? Object.keys(cfg.zones)).includes(zone))
    .map(([name, p]) => ({ name, prefix: p.prefix, role: p.role }));
}

/**
 * The addresses `zone`'s `role` also listens on: those of the /32 prefixes it announces for
 * that role (the service address itself; a wider prefix is routed by the operator).
 */
export function anycastAddresses(cfg: AnycastConfig | undefined, zone: string, role: string): string[] {
  if (!cfg) return [];
  return prefixesOf(cfg, zone)
    .filter((p) => p.role === role && p.prefix.endsWith('/32'))
    .map((p) => p.prefix.slice(0, -3));
}

/** A zone's announcer; `start()` starts its speaker with nothing announced. */
export class Announcer {
  private readonly prefixes: { name: string; prefix: string; role: string; state: DecisionState; cur: PrefixState }[];
  private timer: Timer | undefined;
  private drained = false;
  private shuttingDown = false;
  private applied = '';
  private sessionList: BgpSession[] = [];
  private sessionsAt = Number.NEGATIVE_INFINITY;
  private sessionsFor = '';
  private error: AnycastZoneState['error'] = null;
  /** One tick at a time: a tick that finds one running waits for it, then runs. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: AnnouncerOptions) {
    const now = Math.round(o.clock.wallTime());
    this.prefixes = prefixesOf(o.config, o.zone).map((p) => ({
      ...p,
      state: initialDecisionState(),
      cur: { ...p, action: 'withdraw', reason: 'rising', since: now },
    }));
  }

  get zone(): string {
    return this.o.zone;
  }

  /** Starts the speaker (nothing announced), evaluates at once and then every `checkMs`. */
  async start(): Promise<void> {
    await this.o.speaker.start();
    this.applied = JSON.stringify(this.plan());
    await this.tick();
    this.timer = this.o.clock.setInterval(this.o.config.checkMs, () => void this.tick());
  }

  /** Evaluates every prefix now and applies a changed plan; also refreshes the session state. */
  tick(): Promise<void> {
    this.chain = this.chain.then(() => this.evaluate());
    return this.chain;
  }

  /** An operator's drain (true) or undrain (false) of this zone's announcements; evaluates at once. */
  drain(on: boolean): Promise<void> {
    this.drained = on;
    return this.tick();
  }

  /**
   * Shutdown, first step: withdraw every prefix, then wait `withdrawGraceMs` so the network
   * has moved clients elsewhere before the listeners close. Idempotent.
   */
  async withdrawAll(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.tick();
    this.o.logger?.info({ zone: this.o.zone }, 'anycast: withdrawn for shutdown');
    if (this.o.config.withdrawGraceMs > 0) await this.o.clock.sleep(this.o.config.withdrawGraceMs);
  }

  /** Shutdown, last step: stops the speaker (after the listeners closed). */
  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    await this.chain.catch(() => {});
    await this.o.speaker.stop();
  }

  /** The zone's prefixes and sessions now. */
  state(): AnycastZoneState {
    return {
      zone: this.o.zone,
      drained: this.drained,
      shuttingDown: this.shuttingDown,
      prefixes: this.prefixes.map((p) => ({ ...p.cur })),
      sessions: this.sessionList.map((s) => ({ ...s })),
      error: this.error,
    };
  }

  private plan(): Announcement[] {
    return this.prefixes.map((p) => ({ name: p.name, prefix: p.prefix, action: p.cur.action }));
  }

  private async evaluate(): Promise<void> {
    const { clock, inputs, config } = this.o;
    const now = clock.now();
    let leaseHeld = true;
    let failedOver = false;
    try {
      leaseHeld = inputs.leaseHeld();
      failedOver = inputs.failedOver();
    } catch {
      leaseHeld = false;
    }
    for (const p of this.prefixes) {
      const i: AnycastInputs = {
        healthy: safe(() => inputs.healthy(p.role)),
        leaseHeld,
        draining: this.drained || failedOver,
        shuttingDown: this.shuttingDown,
      };
      const r = decide(p.state, i, now, { riseMs: config.riseMs, onDown: config.onDown });
      p.state = r.state;
      const changed = r.decision.action !== p.cur.action;
      p.cur = {
        name: p.name,
        prefix: p.prefix,
        role: p.role,
        action: r.decision.action,
        reason: r.decision.reason,
        ...(r.decision.riseLeftMs === undefined ? {} : { riseLeftMs: Math.ceil(r.decision.riseLeftMs) }),
        since: changed ? Math.round(clock.wallTime()) : p.cur.since,
      };
      if (changed) {
        this.o.metrics?.changed(this.o.zone, p.name, r.decision.action);
        this.o.logger?.info(
          { zone: this.o.zone, prefix: p.prefix, action: r.decision.action, reason: r.decision.reason },
          `anycast: ${p.prefix} ${r.decision.action} (${r.decision.reason})`,
        );
      }
      this.o.metrics?.setPrefix(this.o.zone, p.name, r.decision.action);
    }
    const plan = this.plan();
    const key = JSON.stringify(plan);
    try {
      if (key !== this.applied) {
        await this.o.speaker.apply(plan);
        this.applied = key;
      }
      // read after the plan is applied (a shutdown's withdrawal goes out first), and only every
      // SESSIONS_EVERY_MS or after a change: each birdc call is a process
      if (!this.shuttingDown && (key !== this.sessionsFor || now - this.sessionsAt >= SESSIONS_EVERY_MS)) {
        this.sessionsAt = now;
        this.sessionsFor = key;
        const neighbors = config.zones[this.o.zone]?.neighbors ?? [];
        this.sessionList = (await this.o.speaker.sessions()).map((x) => {
          const n = neighbors[sessionIndex(x.name)];
          return n ? { ...x, neighbor: `${n.address} AS${n.as}` } : x;
        });
      }
      this.error = null;
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (this.error?.message !== err.message)
        this.o.logger?.warn({ zone: this.o.zone, err: e }, 'anycast: the speaker failed');
      this.error = { code: err.code ?? anycastErrors.ERR_ANYCAST_BIRD_CONFIG.code, message: err.message ?? String(e) };
      this.o.metrics?.failed(this.o.zone);
      // the next tick tries again (applied still names the old plan)
    }
    this.o.metrics?.setSessions(this.o.zone, this.sessionList);
  }
}

/** A verdict that throws (an unknown endpoint) counts as unhealthy. */
function safe(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}
