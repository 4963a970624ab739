import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Topology } from '../topology/index.ts';
import type { ListenerSet } from './listener-set.ts';
import type { HealthMetrics } from './metrics.ts';
import type { EndpointEntry } from './probe-plan.ts';
import { quorumVerdict } from './quorum.ts';
import { zoneKeyEndpoint } from './targets.ts';
import type { EndpointVerdict, HealthChangeEvent, VerdictSink, ZoneVerdict, ZoneVotes } from './types.ts';

/** What the board works with. */
export interface VerdictBoardDeps {
  topology: Topology;
  clock: Clock;
  logger: Logger;
  metrics: HealthMetrics;
  state: VerdictSink | undefined;
  /** Votes needed to flip a verdict, given how many probers are live (local ones, and remote ones with a fresh vote). */
  need(live: number): number;
  /** The remote prober zones: an unknown (stale) vote of one of them means its process is gone. */
  remote: readonly string[];
  changes: ListenerSet<[HealthChangeEvent]>;
  zoneChanges: ListenerSet<[string, boolean]>;
}

/**
 * The endpoints' quorum verdicts and their zones': flips a verdict when a quorum of votes
 * disagrees with it, and tells steering, the metrics, the log and the listeners.
 */
export class VerdictBoard {
  /** Each zone's key endpoint (its verdict is the zone's), or null. */
  private readonly keyOf: Map<string, string | null>;

  constructor(
    private readonly d: VerdictBoardDeps,
    private readonly entries: ReadonlyMap<string, EndpointEntry>,
  ) {
    this.keyOf = new Map(d.topology.zones.map((z) => [z.name, zoneKeyEndpoint(d.topology, z.name)]));
  }

  /** The zone's verdict: its key endpoint's (up when it has none). */
  zoneUp(zone: string): boolean {
    const key = this.keyOf.get(zone);
    return key ? this.entries.get(key)!.up : true;
  }

  /** The probers voting the zone's key endpoint down, of how many votes count (a stale remote one does not). */
  zoneVotes(zone: string): ZoneVotes | undefined {
    const key = this.keyOf.get(zone);
    const ep = key ? this.entries.get(key) : undefined;
    if (!ep) return undefined;
    const down: string[] = [];
    let counted = 0;
    for (const [prober, v] of ep.votes) {
      if (v.state === 'unknown') continue;
      counted++;
      if (v.state === 'down') down.push(prober);
    }
    return { down, counted };
  }

  /** Every zone's verdict, in topology order. */
  zones(): ZoneVerdict[] {
    return this.d.topology.zones.map((z) => ({
      zone: z.name,
      up: this.zoneUp(z.name),
      keyEndpoint: this.keyOf.get(z.name) ?? null,
    }));
  }

  private held = false;

  /**
   * Holds every verdict as it is (true) or lets them move again (false): a process cut off from
   * the control Kv cannot tell dead probers from its own isolation, so it decides nothing.
   */
  hold(on: boolean): void {
    this.held = on;
    if (!on) for (const ep of this.entries.values()) this.recompute(ep);
  }

  /**
   * Probers whose vote can count: every local one, and the remote ones with a fresh vote (a
   * dead process's votes age out to unknown, so two zones dead of four leave two live probers
   * whose majority is two, not a quorum of three that could never be reached again).
   */
  private live(ep: EndpointEntry): number {
    let n = 0;
    let remoteHeard = false;
    for (const [prober, v] of ep.votes) {
      const remote = this.d.remote.includes(prober);
      if (!remote || v.state !== 'unknown') n++;
      if (remote && v.state !== 'unknown') remoteHeard = true;
    }
    // until this process has heard any other process's vote (vote sharing not attached yet, or
    // cut off from the start), the others are not known dead: count every prober, as configured
    this.heardRemote ||= remoteHeard;
    return this.heardRemote ? n : ep.votes.size;
  }

  private heardRemote = false;

  /** Re-counts an endpoint's votes; on a flip, tells everyone (a key endpoint's flip steers its whole zone). */
  recompute(ep: EndpointEntry): void {
    if (this.held) return;
    const up = quorumVerdict(ep.up, ep.votes.values(), this.d.need(this.live(ep)));
    if (up === ep.up) return;
    const { target } = ep;
    const { metrics: m, logger } = this.d;
    ep.up = up;
    ep.since = this.d.clock.wallTime();
    ep.changes++;
    const isKey = this.keyOf.get(target.zone) === target.id;
    // a dead zone gets no traffic at all: when its key endpoint flips, so do its others in steering
    if (isKey) {
      for (const other of this.entries.values()) if (other.target.zone === target.zone) this.steer(other);
    } else this.steer(ep);
    m.endpointUp.set({ endpoint: target.id, zone: target.zone, role: target.role }, up ? 1 : 0);
    m.verdictChanges.inc({ to: up ? 'up' : 'down' });
    const votes = Object.fromEntries([...ep.votes].map(([p, v]) => [p, v.state]));
    logger[up ? 'info' : 'warn']({ endpoint: target.id, votes }, `health: ${target.id} is ${up ? 'up' : 'down'}`);
    this.d.changes.emit({ endpointId: target.id, zone: target.zone, role: target.role, up, at: ep.since });
    if (isKey) this.d.zoneChanges.emit(target.zone, up);
  }

  /** An endpoint's verdict with copies of its votes. */
  verdictOf(ep: EndpointEntry): EndpointVerdict {
    return {
      endpointId: ep.target.id,
      zone: ep.target.zone,
      role: ep.target.role,
      host: ep.target.host,
      port: ep.target.port,
      kind: ep.kind,
      up: ep.up,
      since: ep.since,
      changes: ep.changes,
      answered: this.answered(ep),
      votes: Object.fromEntries(
        [...ep.votes].map(([p, v]) => [p, { ...v, lastError: v.lastError ? { ...v.lastError } : null }]),
      ),
    };
  }

  /** What steering is told: the endpoint's own verdict, and its zone's. */
  private answered(ep: EndpointEntry): boolean {
    return ep.up && this.zoneUp(ep.target.zone);
  }

  private steer(ep: EndpointEntry): void {
    const a = this.answered(ep);
    for (const id of ep.ids) this.d.state?.setUp(id, a);
  }
}
