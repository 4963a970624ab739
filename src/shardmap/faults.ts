/**
 * Fault switches for drills and tests, shared by every part of an embedded cluster:
 * a killed zone's listeners are stopped; an isolated zone is cut from the other zones and
 * from the control plane (its routers cannot forward, its Kv handle fails, probes fail).
 */
export class ZoneFaults {
  private readonly isolated = new Set<string>();
  private readonly listeners = new Set<(zone: string) => void>();

  isIsolated(zone: string): boolean {
    return this.isolated.has(zone);
  }

  /** True when a and b cannot talk (either side is isolated). */
  cut(a: string, b: string): boolean {
    return a !== b && (this.isolated.has(a) || this.isolated.has(b));
  }

  setIsolated(zone: string, on: boolean): void {
    if (on === this.isolated.has(zone)) return;
    if (on) this.isolated.add(zone);
    else this.isolated.delete(zone);
    for (const l of this.listeners) l(zone);
  }

  onChange(listener: (zone: string) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  list(): string[] {
    return [...this.isolated].sort();
  }
}
