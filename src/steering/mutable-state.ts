import type { SteeringState, ZoneShed } from './types.ts';

/**
 * The cluster's live view for steering: health verdicts and zone load, written by the
 * health checker and metrics, read on every decision. `version` bumps on every change.
 */
/** What a DNS worker mirrors of its zone process's state (structured-clone data). */
export interface SteeringSnapshot {
  down: string[];
  loads: [string, number][];
  sheds: [string, ZoneShed][];
}

/** What answers depend on in a snapshot: a new load figure alone changes no cached answer. */
function answersKey(s: SteeringSnapshot): string {
  return JSON.stringify([s.down, s.loads, s.sheds.map(([z, x]) => [z, x.share, x.over])]);
}

export class MutableSteeringState implements SteeringState {
  private readonly down = new Set<string>();
  private readonly loads = new Map<string, number>();
  private readonly sheds = new Map<string, ZoneShed>();
  version = 0;
  latencyRank?: SteeringState['latencyRank'];
  private readonly watchers = new Set<() => void>();

  /** Calls `fn` after every change, a new load figure included (the DNS workers' mirror); returns the unsubscribe. */
  watch(fn: () => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private changed(): void {
    for (const fn of this.watchers) fn();
  }

  snapshot(): SteeringSnapshot {
    return { down: [...this.down].sort(), loads: [...this.loads], sheds: [...this.sheds] };
  }

  /** Becomes the snapshot (a worker's copy of its zone process's state). */
  restore(s: SteeringSnapshot): void {
    const before = answersKey(this.snapshot());
    this.down.clear();
    for (const id of s.down) this.down.add(id);
    this.loads.clear();
    for (const [z, n] of s.loads) this.loads.set(z, n);
    this.sheds.clear();
    for (const [z, x] of s.sheds) this.sheds.set(z, { ...x });
    // as in the zone's process: the version (and so the answer cache) moves with what answers depend on
    if (answersKey(s) !== before) this.version++;
  }

  isUp(endpointId: string): boolean {
    return !this.down.has(endpointId);
  }

  setUp(endpointId: string, up: boolean): void {
    const was = !this.down.has(endpointId);
    if (was === up) return;
    if (up) this.down.delete(endpointId);
    else this.down.add(endpointId);
    this.version++;
    this.changed();
  }

  load(zone: string): number {
    return this.sheds.get(zone)?.load ?? this.loads.get(zone) ?? 0;
  }

  setLoad(zone: string, rps: number): void {
    this.loads.set(zone, rps);
    this.version++;
    this.changed();
  }

  shed(zone: string): ZoneShed | undefined {
    return this.sheds.get(zone);
  }

  /**
   * A zone's measured load and shed share (null: none known). The version bumps only when
   * what answers depend on changes (share, over), not on every new load figure, so cached
   * DNS replies live on while nothing sheds.
   */
  setShed(zone: string, s: ZoneShed | null): void {
    const was = this.sheds.get(zone);
    if (s === null) {
      if (!was) return;
      this.sheds.delete(zone);
      if (was.share > 0 || was.over) this.version++;
      this.changed();
      return;
    }
    this.sheds.set(zone, { ...s });
    if ((was?.share ?? 0) !== s.share || (was?.over ?? false) !== s.over) this.version++;
    this.changed();
  }

  /** Endpoint ids currently marked down. */
  downEndpoints(): string[] {
    return [...this.down].sort();
  }
}
