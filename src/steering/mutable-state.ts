import type { SteeringState, ZoneShed } from './types.ts';

/**
 * The cluster's live view for steering: health verdicts and zone load, written by the
 * health checker and metrics, read on every decision. `version` bumps on every change.
 */
export class MutableSteeringState implements SteeringState {
  private readonly down = new Set<string>();
  private readonly loads = new Map<string, number>();
  private readonly sheds = new Map<string, ZoneShed>();
  version = 0;
  latencyRank?: SteeringState['latencyRank'];

  isUp(endpointId: string): boolean {
    return !this.down.has(endpointId);
  }

  setUp(endpointId: string, up: boolean): void {
    const was = !this.down.has(endpointId);
    if (was === up) return;
    if (up) this.down.delete(endpointId);
    else this.down.add(endpointId);
    this.version++;
  }

  load(zone: string): number {
    return this.sheds.get(zone)?.load ?? this.loads.get(zone) ?? 0;
  }

  setLoad(zone: string, rps: number): void {
    this.loads.set(zone, rps);
    this.version++;
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
      return;
    }
    this.sheds.set(zone, { ...s });
    if ((was?.share ?? 0) !== s.share || (was?.over ?? false) !== s.over) this.version++;
  }

  /** Endpoint ids currently marked down. */
  downEndpoints(): string[] {
    return [...this.down].sort();
  }
}
