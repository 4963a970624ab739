import { type ControlApi, controlErrors, readParams } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import { type AuditLog, zoneOf } from '../failover/index.ts';
import type { RpoSnapshot, ZoneOutage } from '../replication/index.ts';
import type { ZoneFaults } from '../shardmap/index.ts';
import type { Topology } from '../topology/index.ts';

/** A zone's listeners as a drill stops and starts them (its router and lease, then its app). */
export interface ZoneSwitch {
  kill(): Promise<void>;
  restore(): Promise<void>;
}

/** What the fault actions act on; `outage` is absent when the cluster runs no data plane. */
export interface FaultTargets {
  topology: Topology;
  clock: Clock;
  audit: AuditLog;
  faults: ZoneFaults;
  outage?: ZoneOutage;
  /** The zone's switch, when the zone runs in this process. */
  zone(name: string): ZoneSwitch | undefined;
}

/**
 * The drill's fault actions on the control API: `POST /api/drill/kill` (mode kill: the zone's
 * listeners and links go down; mode partition: it keeps serving but is cut off) and
 * `POST /api/drill/restore` (back, then replay and measure RPO/WRT).
 */
export function registerDrillRoutes(control: ControlApi, t: FaultTargets): void {
  const snapshots = new Map<string, RpoSnapshot>();
  control.route('POST', '/api/drill/kill', async (req, url) => {
    const p = await readParams(req, url);
    const zone = zoneOf(t.topology, p);
    const mode = p.mode ?? 'kill';
    if (mode !== 'kill' && mode !== 'partition')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('mode must be kill or partition');
    const at = t.clock.wallTime();
    if (mode === 'partition') await partition(t, zone, snapshots);
    else await kill(t, zone, snapshots);
    await t.audit.append({ action: 'drill', zone, reason: mode });
    return { zone, mode, at };
  });
  control.route('POST', '/api/drill/restore', async (req, url) => {
    const zone = zoneOf(t.topology, await readParams(req, url));
    const at = await restore(t, zone);
    const snapshot = snapshots.get(zone);
    snapshots.delete(zone);
    if (!t.outage || !snapshot) return { zone, at };
    const c = await t.outage.restoreZone(zone, snapshot, 60_000);
    const { rpo, total, applied, locked, pending, lost } = c;
    return { zone, at, data: { rpo, wrtMs: c.wrtMs ?? null, total, applied, locked, pending, lost } };
  });
}

/** The zone keeps serving its clients: the RPO snapshot is the moment it is cut off. */
async function partition(t: FaultTargets, zone: string, snapshots: Map<string, RpoSnapshot>): Promise<void> {
  if (t.outage && !snapshots.has(zone)) snapshots.set(zone, await t.outage.failZone(zone));
  t.faults.setIsolated(zone, true);
}

/**
 * The zone's links and its listeners go down together; the RPO snapshot comes after both,
 * so it also holds the writes acknowledged while the listeners closed.
 */
async function kill(t: FaultTargets, zone: string, snapshots: Map<string, RpoSnapshot>): Promise<void> {
  const sw = t.zone(zone);
  if (!sw) throw controlErrors.ERR_CONTROL_BAD_REQUEST(`zone ${zone} does not run in this process`);
  if (t.outage && !snapshots.has(zone)) snapshots.set(zone, await t.outage.failZone(zone, () => sw.kill()));
  else await sw.kill();
}

/** Lifts the isolation, starts the zone's listeners again; the wall time it came back. */
async function restore(t: FaultTargets, zone: string): Promise<number> {
  t.faults.setIsolated(zone, false);
  await t.zone(zone)?.restore();
  await t.audit.append({ action: 'drill', zone, reason: 'restore' });
  return t.clock.wallTime();
}
