import { type ControlApi, controlErrors, readParams } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import type { Topology } from '../topology/index.ts';
import { runDrill } from './runner.ts';
import type { DrillProgress, DrillReport } from './types.ts';

/** One drill started through the control API, as GET /api/drills shows it. */
export interface DrillRun {
  id: number;
  zone: string;
  mode: 'kill' | 'partition';
  durationS: number;
  rps: number;
  /** Wall ms. */
  startedAt: number;
  endedAt: number | null;
  state: 'running' | 'done' | 'failed';
  progress: DrillProgress | null;
  report: DrillReport | null;
  error: string | null;
}

/** What the drill runs need: the control API's own URL (the drill drives the cluster through it). */
export interface DrillRunDeps {
  topology: Topology;
  clock: Clock;
  random: Random;
  control: () => string | undefined;
}

const KEEP = 10;

/**
 * `POST /api/drills {"zone","mode"?: kill|partition, "durationS"?: "12", "rps"?: "100"}` starts
 * the same drill as `multizone drill` (traffic through the routers, the fault, restore and
 * failback) in the background and answers its id; one at a time (409 ERR_CONTROL_BUSY).
 * `GET /api/drills` lists the last ten with their progress and, once done, their report.
 */
export function registerDrillRuns(control: ControlApi, d: DrillRunDeps): void {
  const runs: DrillRun[] = [];
  let next = 1;
  control.route('GET', '/api/drills', () => ({ drills: runs }));
  control.route('POST', '/api/drills', async (req, url) => {
    const p = await readParams(req, url);
    const zone = p.zone;
    if (!zone || !d.topology.hasZone(zone))
      throw controlErrors.ERR_CONTROL_BAD_REQUEST(`need a zone of the topology, not "${zone ?? ''}"`);
    const mode = p.mode ?? 'kill';
    if (mode !== 'kill' && mode !== 'partition')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('mode must be kill or partition');
    const durationS = intIn(p.durationS ?? '12', 'durationS', 4, 600);
    const rps = intIn(p.rps ?? '100', 'rps', 1, 5000);
    const base = d.control();
    if (!base) throw controlErrors.ERR_CONTROL_BAD_REQUEST('the control API has no URL yet');
    if (runs.some((r) => r.state === 'running'))
      throw controlErrors.ERR_CONTROL_BUSY('a drill is running; wait for its report');
    const run: DrillRun = {
      id: next++,
      zone,
      mode,
      durationS,
      rps,
      startedAt: d.clock.wallTime(),
      endedAt: null,
      state: 'running',
      progress: null,
      report: null,
      error: null,
    };
    runs.unshift(run);
    if (runs.length > KEEP) runs.pop();
    runDrill({
      control: base,
      zone,
      mode,
      rps,
      durationS,
      writes: 0.2,
      users: 500,
      allowConflicts: true,
      restore: true,
      failback: true,
      clock: d.clock,
      random: d.random,
      onProgress: (pr) => {
        run.progress = pr;
      },
    })
      .then((r) => {
        run.report = r;
        run.state = 'done';
      })
      .catch((e: unknown) => {
        run.error = (e as Error).message;
        run.state = 'failed';
      })
      .finally(() => {
        run.endedAt = d.clock.wallTime();
      });
    return { id: run.id, zone, mode, durationS, rps };
  });
}

function intIn(raw: string, name: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw controlErrors.ERR_CONTROL_BAD_REQUEST(`${name} must be an integer from ${min} to ${max}, not "${raw}"`);
  return n;
}
