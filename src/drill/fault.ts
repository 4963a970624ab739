import type { Clock } from '../core/clock.ts';
import { type Control, controlJson, type ShardMapJson } from './control-http.ts';
import type { DrillOptions, DrillReport, RestoreData } from './types.ts';

/** What POST /api/failback answered, or why it failed (a failed failback is reported, not thrown). */
export type FailbackResult = NonNullable<NonNullable<DrillReport['restore']>['failback']>;

/** Faults the zone through the control API: kills it, or partitions it from the others. */
export async function faultZone(control: Control, zone: string, mode: DrillOptions['mode']): Promise<void> {
  await controlJson(control, '/api/drill/kill', 'POST', { zone, mode });
}

/** Brings the zone back; returns what the data plane measured (RPO, WRT, fates), if the cluster has one. */
export async function restoreZone(control: Control, zone: string): Promise<RestoreData | undefined> {
  const back = await controlJson<{ data?: RestoreData }>(control, '/api/drill/restore', 'POST', { zone });
  return back.data;
}

/** Gives the zone its shards back once the controller sees it up again (waits up to ~10 s for that). */
export async function failBack(control: Control, zone: string, clock: Clock): Promise<FailbackResult> {
  // the controller must see the zone up again before it gives shards back
  for (let i = 0; i < 100; i++) {
    const s = await controlJson<ShardMapJson>(control, '/api/shardmap?shards=0');
    if (s.states[zone]?.state === 'recovered' || s.states[zone]?.state === 'healthy') break;
    await clock.sleep(100);
  }
  try {
    return await controlJson(control, '/api/failback', 'POST', { zone });
  } catch (e) {
    return { error: (e as Error).message };
  }
}
