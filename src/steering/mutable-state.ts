import type { SteeringState } from './types.ts';

/**
 * The cluster's live view for steering: health verdicts and zone load, written by the
 * health checker and metrics, read on every decision. `version` bumps on every change.
 */
export class MutableSteeringState implements SteeringState {
  private readonly down = new Set<string>();
  private readonly loads = new Map<string, number>();
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
    return this.loads.get(zone) ?? 0;
  }

  setLoad(zone: string, rps: number): void {
    this.loads.set(zone, rps);
    this.version++;
  }

  /** Endpoint ids currently marked down. */
  downEndpoints(): string[] {
    return [...this.down].sort();
  }
}
