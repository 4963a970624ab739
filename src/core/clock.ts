/** Injected time. Nothing else in src/ reads the system clock or sets timers directly. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (not wall time). */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps shown to people or stored. */
  wallTime(): number;
  /** Runs fn once after ms. */
  setTimer(ms: number, fn: () => void): Timer;
  /** Runs fn every ms until cancelled. */
  setInterval(ms: number, fn: () => void): Timer;
  /** Resolves after ms. */
  sleep(ms: number): Promise<void>;
}

const origin = performance.timeOrigin;

export const systemClock: Clock = {
  now: () => performance.now(),
  wallTime: () => origin + performance.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  every?: number;
  cancelled: boolean;
}

/**
 * A clock for tests: time moves only through advance(); due timers fire in time order,
 * ties broken by creation order (Envoy's SimulatedTimeSystem).
 */
export class ManualClock implements Clock {
  private t: number;
  private wall: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = 0, wallStart = 1_700_000_000_000) {
    this.t = start;
    this.wall = wallStart - start;
  }

  now(): number {
    return this.t;
  }

  wallTime(): number {
    return this.wall + this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.pending.push(p);
    return { cancel: () => (p.cancelled = true) };
  }

  setInterval(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.t + Math.max(1, ms), seq: this.seq++, fn, every: Math.max(1, ms), cancelled: false };
    this.pending.push(p);
    return { cancel: () => (p.cancelled = true) };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.setTimer(ms, r));
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.pending)
        if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      if (!next) break;
      this.t = next.at;
      if (next.every) {
        next.at += next.every;
        next.seq = this.seq++;
      } else next.cancelled = true;
      next.fn();
    }
    this.t = end;
  }

  /** Like advance, but yields to the event loop between timers so awaited work can run. */
  async advanceAsync(ms: number, step = 1): Promise<void> {
    const end = this.t + ms;
    while (this.t < end) {
      this.advance(Math.min(step, end - this.t));
      await new Promise((r) => setImmediate(r));
    }
  }
}
