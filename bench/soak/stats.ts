/**
 * The soak's arithmetic (pure): least-squares slopes of the process samples over the second
 * half of a run, and the verdict against the heap bound.
 */

/** One sample of the cluster process (taken over IPC, after a full GC). */
export interface Sample {
  /** Seconds since the workload started. */
  t: number;
  rss: number;
  /** V8 heap used right after a full GC: what is still reachable. */
  heapUsed: number;
  /** V8 heap reserved (what of RSS is the JS heap's). */
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** process.getActiveResourcesInfo().length: sockets, timers, servers… */
  handles: number;
  /** Event-loop delay since the previous sample (ms). */
  lagP50: number;
  lagP99: number;
  lagMax: number;
}

/** The series the report gives a slope for, with their unit. */
export const SERIES = [
  ['rss', 'MB'],
  ['heapUsed', 'MB'],
  ['heapTotal', 'MB'],
  ['external', 'MB'],
  ['handles', ''],
  ['lagP99', 'ms'],
] as const satisfies readonly (readonly [keyof Sample, string])[];

export type SeriesName = (typeof SERIES)[number][0];

/**
 * Least-squares slope of y over x (units of y per unit of x); 0 with fewer than two distinct x.
 * Example: (0,10) (60,13) (120,16) → 0.05 per second, 3 per minute.
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i]!;
    my += ys[i]!;
  }
  mx /= n;
  my /= n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The samples of the second half of the run (by time, not by count: sampling may stall). */
export function secondHalf(samples: readonly Sample[]): Sample[] {
  if (samples.length === 0) return [];
  const end = samples[samples.length - 1]!.t;
  return samples.filter((s) => s.t >= end / 2);
}

const MB = 1024 * 1024;
const scale = (name: SeriesName) => (name === 'handles' || name === 'lagP99' ? 1 : MB);

/** Per series: its slope over the second half, per minute, in the series' unit (MB for bytes). */
export function slopesPerMinute(samples: readonly Sample[]): Record<SeriesName, number> {
  const half = secondHalf(samples);
  const xs = half.map((s) => s.t / 60);
  const out = {} as Record<SeriesName, number>;
  for (const [name] of SERIES)
    out[name] = slope(
      xs,
      half.map((s) => s[name] / scale(name)),
    );
  return out;
}

/** The sample nearest to time t (seconds), or undefined when none is within `within` seconds. */
export function sampleAt(samples: readonly Sample[], t: number, within = 30): Sample | undefined {
  let best: Sample | undefined;
  for (const s of samples) if (!best || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
  return best && Math.abs(best.t - t) <= within ? best : undefined;
}

/** What the soak holds the process to. */
export interface SoakBounds {
  /** Largest heap-used slope over the second half (MB/min) that still passes. */
  heapMbPerMin: number;
  /** Largest share of failed requests (0..1) of any workload stream. */
  errorRatio: number;
}

/** One stream's outcome, as the verdict reads it. */
export interface StreamCount {
  name: string;
  sent: number;
  failed: number;
}

/** Why a soak failed (empty when it passed). */
export function verdict(
  slopes: Record<SeriesName, number>,
  streams: readonly StreamCount[],
  bounds: SoakBounds,
): string[] {
  const why: string[] = [];
  if (slopes.heapUsed > bounds.heapMbPerMin)
    why.push(
      `heap used grows ${slopes.heapUsed.toFixed(3)} MB/min over the second half (bound ${bounds.heapMbPerMin} MB/min)`,
    );
  for (const s of streams) {
    if (s.sent === 0) why.push(`${s.name}: nothing was sent`);
    else if (s.failed / s.sent > bounds.errorRatio)
      why.push(`${s.name}: ${s.failed} of ${s.sent} requests failed (bound ${(bounds.errorRatio * 100).toFixed(1)} %)`);
  }
  return why;
}
