/** Below this gap to the target the shed share stays put: measurement noise must not move clients. */
export const SHARE_DEADBAND = 0.01;

export interface ShedderOptions {
  /** Requests/s the zone serves before it sheds. */
  capacity: number;
  /** The zone returns its clients once its load is below lowMark × capacity. */
  lowMark: number;
  /** The most the share moves per second. */
  slewPerSecond: number;
}

/**
 * One zone's shed share with hysteresis (a Schmitt trigger) and a slew limit:
 *
 * - idle → shedding when the load L goes over the capacity C;
 * - while shedding, the target is (L − C) / L above C; between the low mark and C the share
 *   holds (the band where neither shedding more nor returning clients is right); below the
 *   low mark the target is 0, and the zone is idle again once the share has slewed down to 0
 *   there;
 * - the share moves towards the target by at most slewPerSecond × dt, and not at all when it
 *   is within SHARE_DEADBAND of a non-zero target.
 *
 * Example (C 1000, low mark 0.9, slew 0.1/s, 1 s steps): L 1500 → target 1/3, share 0.1,
 * 0.2, 0.3, 0.333; L 950 → holds 0.333; L 800 → 0.233, 0.133, 0.033, 0 → idle.
 */
export class Shedder {
  share = 0;
  shedding = false;

  constructor(private readonly o: ShedderOptions) {}

  get capacity(): number {
    return this.o.capacity;
  }

  /** Where the share is heading at load L. */
  target(load: number): number {
    const c = this.o.capacity;
    if (load > c) return (load - c) / load;
    if (this.shedding && load >= this.o.lowMark * c) return this.share;
    return 0;
  }

  /** One step of dtSeconds at load L: 'start' or 'stop' when the zone starts or stops shedding. */
  step(load: number, dtSeconds: number): 'start' | 'stop' | null {
    let change: 'start' | 'stop' | null = null;
    if (!this.shedding) {
      if (!(load > this.o.capacity)) return null;
      this.shedding = true;
      change = 'start';
    }
    const target = this.target(load);
    const gap = target - this.share;
    if (target === 0 || Math.abs(gap) >= SHARE_DEADBAND) {
      const max = this.o.slewPerSecond * Math.max(0, dtSeconds);
      this.share = round3(this.share + Math.max(-max, Math.min(max, gap)));
    }
    // the state itself has the band too: a zone hovering at its capacity must not start and
    // stop on every step, even with a share still too small to move anyone
    if (this.share <= 0 && load < this.o.lowMark * this.o.capacity) {
      this.share = 0;
      this.shedding = false;
      return change === 'start' ? null : 'stop';
    }
    return change;
  }
}

/** Three decimals: the share as published and compared (a change of 0.001 bumps the steering state). */
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
