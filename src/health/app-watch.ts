import type { Clock, Timer } from '../core/clock.ts';
import { healthErrors } from './errors.ts';
import { networkProbe } from './probes/index.ts';
import type { ProbeFn } from './types.ts';

/** A timeout firing this much later than due (ms, and fraction of the timeout) means we were stalled. */
const STALL_MIN_MS = 25;
const STALL_FRACTION = 0.25;

/** The abort reason of a probe cut short by stop(). */
const STOPPED = Symbol('stopped');

/** What an app watch probes and how often (the `health:` section's interval, timeout, rise and fall). */
export interface AppWatchOptions {
  /** The zone whose external app this is (names the probe in errors). */
  zone: string;
  host: string;
  port: number;
  /** The app's health path (`zones.<z>.app.health`); only 2xx counts as alive. */
  path: string;
  clock: Clock;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** Called on every flip (not at start). */
  onChange(up: boolean): void;
  /** The network; tests may pass another. */
  probe?: ProbeFn;
}

/**
 * A zone's own watch over its external app: GET the app's health path every interval from
 * the zone's process; `fall` failures in a row flip it down, `rise` successes up again. It
 * starts up (like every endpoint of the health plane), so an app that is slow to start does
 * not fail its zone over before it ever served. The runtime ties the zone's health answer
 * (`/_mz/health` 503) and the zone's lease to it, so a dead app fails its zone over.
 */
export class AppWatch {
  private state = { up: true, successes: 0, failures: 0 };
  private timer: Timer | undefined;
  private abort: AbortController | undefined;
  private stopped = true;
  /** The last failure, for the zone's health answer. */
  lastError: { code: string; message: string } | null = null;

  constructor(private readonly o: AppWatchOptions) {}

  /** True until `fall` probes in a row have failed. */
  get up(): boolean {
    return this.state.up;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.abort?.abort(STOPPED);
  }

  /** One probe now (tests, and the first one at start); resolves when it is counted. */
  async probeNow(): Promise<boolean> {
    const { o } = this;
    const ac = new AbortController();
    this.abort = ac;
    let timeout: Timer | undefined;
    let ok: boolean;
    let stalled = false;
    const t0 = o.clock.now();
    try {
      await Promise.race([
        (async () =>
          (o.probe ?? networkProbe)({
            target: { id: `${o.zone}/app`, zone: o.zone, role: 'app', host: o.host, port: o.port },
            prober: o.zone,
            kind: 'http',
            path: o.path,
            expectStatus: ['2xx'],
            dnsName: '',
            localAddress: undefined,
            signal: ac.signal,
          }))(),
        new Promise<never>((_, reject) => {
          timeout = o.clock.setTimer(o.timeoutMs, () => {
            // a timer this late means our own event loop was blocked (the answer may be sitting
            // unread in the socket): the probe counts neither way, as in the health plane
            stalled = o.clock.now() - t0 - o.timeoutMs > Math.max(STALL_MIN_MS, o.timeoutMs * STALL_FRACTION);
            const e = healthErrors.ERR_HEALTH_PROBE_TIMEOUT(
              `health: ${o.zone}'s app (${o.host}:${o.port}${o.path}): no answer within ${o.timeoutMs} ms`,
            );
            ac.abort(e);
            reject(e);
          });
        }),
      ]);
      ok = true;
      this.lastError = null;
    } catch (e) {
      ok = false;
      const err = e as { code?: string; message?: string };
      this.lastError = {
        code: err.code ?? healthErrors.ERR_HEALTH_PROBE_CONNECT.code,
        message: err.message ?? String(e),
      };
    } finally {
      timeout?.cancel();
      if (this.abort === ac) this.abort = undefined;
    }
    // a probe cut short by stop(), or timed out while this process stalled, says nothing about the app
    if (!stalled && ac.signal.reason !== STOPPED) this.count(ok);
    return ok;
  }

  private count(ok: boolean): void {
    const s = this.state;
    if (ok) {
      s.successes++;
      s.failures = 0;
    } else {
      s.failures++;
      s.successes = 0;
    }
    const flip = s.up ? !ok && s.failures >= this.o.fall : ok && s.successes >= this.o.rise;
    if (!flip) return;
    s.up = !s.up;
    this.o.onChange(s.up);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(ms, () => {
      this.timer = undefined;
      void this.probeNow().finally(() => this.schedule(this.o.intervalMs));
    });
  }
}
