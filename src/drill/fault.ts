import type { Clock } from '../core/clock.ts';
import { failoverErrors } from '../failover/index.ts';
import { type Control, controlJson, type ShardMapJson } from './control-http.ts';
import type { DrillPlan } from './plan.ts';
import type { ClusterState, DrillOptions, DrillReport, RestoreData } from './types.ts';

/** What POST /api/failback answered, or why it failed (a failed failback is reported, not thrown). */
export type FailbackResult = NonNullable<NonNullable<DrillReport['restore']>['failback']>;

/**
 * Faults the zone: an external fault when the options bring one, else the zone's own process
 * through its control API (mode kill: its listeners and links go down; partition: it is cut off).
 */
export async function faultZone(o: DrillOptions, plan: DrillPlan): Promise<void> {
  if (o.external) return o.external.cut();
  await controlJson(plan.zoneControl, '/api/drill/kill', 'POST', { zone: o.zone, mode: o.mode });
}

/** Brings the zone back; returns what its data plane measured (RPO, WRT, fates), when its process could. */
export async function restoreZone(o: DrillOptions, plan: DrillPlan): Promise<RestoreData | undefined> {
  if (o.external) {
    await o.external.heal();
    return undefined;
  }
  const back = await controlJson<{ data?: RestoreData }>(plan.zoneControl, '/api/drill/restore', 'POST', {
    zone: o.zone,
  });
  return back.data;
}

/** How long a failback waits for the restored zone to be up with a valid lease (ms). */
const FAILBACK_WAIT_MS = 60_000;

/**
 * Gives the zone its shards back once the controller sees it up again with a valid lease: a
 * process the fault killed starts again, reconnects and renews its lease first. The leader
 * refuses earlier (ERR_FAILOVER_NOT_READY), so that answer is tried again until the wait ends;
 * any other refusal is reported at once.
 */
export async function failBack(control: Control, zone: string, clock: Clock): Promise<FailbackResult> {
  const deadline = clock.now() + FAILBACK_WAIT_MS;
  const ready = (s: ShardMapJson | null) =>
    (s?.states[zone]?.state === 'recovered' || s?.states[zone]?.state === 'healthy') &&
    s.zones?.[zone]?.lease?.valid !== false;
  let last = '';
  while (clock.now() < deadline) {
    const s = await controlJson<ShardMapJson>(control, '/api/shardmap?shards=0').catch(() => null);
    if (!ready(s)) {
      await clock.sleep(100);
      continue;
    }
    try {
      return await controlJson(control, '/api/failback', 'POST', { zone });
    } catch (e) {
      last = (e as Error).message;
      if (!last.includes(failoverErrors.ERR_FAILOVER_NOT_READY.code)) return { error: last };
      await clock.sleep(500);
    }
  }
  return { error: last || `failback: ${zone} was not up with a valid lease within ${FAILBACK_WAIT_MS} ms` };
}

/** Open conflicts across every process the drill knows (ids deduplicated: a conflict shows in each zone it locks). */
export async function openConflicts(controls: readonly Control[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const c of controls) {
    const r = await controlJson<{ conflicts?: { id: string }[] }>(c, '/api/conflicts').catch(() => null);
    for (const x of r?.conflicts ?? []) ids.add(x.id);
  }
  return ids;
}

/** The cluster now: shards per zone, the global writer, zone states and the leader's term. */
export async function clusterState(control: Control): Promise<ClusterState> {
  const m = await controlJson<ShardMapJson>(control, '/api/shardmap');
  const shards: Record<string, number> = {};
  for (const s of m.shards) shards[s.zone] = (shards[s.zone] ?? 0) + 1;
  const states: Record<string, string> = {};
  for (const [z, v] of Object.entries(m.states)) states[z] = v.state;
  const leader = m.leader
    ? {
        ...(m.leader.holder ? { holder: m.leader.holder } : {}),
        ...(m.leader.term === undefined ? {} : { term: m.leader.term }),
      }
    : null;
  const global = m.global ? { zone: m.global.zone, epoch: m.global.epoch } : null;
  return { shards, global, states, leader };
}
