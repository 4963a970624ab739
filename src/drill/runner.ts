import { Agent } from 'undici';
import type { Control } from './control-http.ts';
import { clusterState, failBack, faultZone, openConflicts, restoreZone } from './fault.ts';
import { type DrillPlan, planDrill } from './plan.ts';
import { buildReport, recordConflicts, recordRestoreData, recordUnshipped } from './report.ts';
import { driveTraffic, type Traffic } from './traffic.ts';
import type { DrillOptions, DrillReport } from './types.ts';
import { countMisroutedWrites, readShardMoves, verifyAckedWrites } from './verify.ts';

/**
 * Drives traffic for many users through the zones' routers (each user enters at its home
 * zone, like steering would send it, and moves to another zone when its entry is refused or
 * declared down), faults one zone, and measures RTO, errors by kind and misrouted requests.
 */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const dispatcher = new Agent({
    connections: 128,
    headersTimeout: 2000,
    bodyTimeout: 2000,
    connect: { timeout: 1000 },
  });
  const control: Control = { base: o.control.replace(/\/$/, ''), dispatcher, clock: o.clock };
  let planned: DrillPlan | undefined;
  try {
    const plan = await planDrill(o, control);
    planned = plan;
    const before = await openConflicts(plan.controls);
    const traffic = await driveTraffic(o, plan, () => faultZone(o, plan));
    const { owners, moved } = await readShardMoves(plan, o.zone);
    const misrouted = countMisroutedWrites(traffic.samples, owners, plan.consistency);
    const report = buildReport(o, plan, traffic, misrouted, moved);
    if (plan.accounts) recordUnshipped(report, await plan.accounts.unshipped(plan.apps, o.zone, traffic.faultAt));
    if (o.restore) await restoreAndVerify(o, plan, traffic, report);
    if (plan.delivery) await verifyDelivery(o, plan, report);
    recordConflicts(report, before, await openConflicts(plan.controls), o.allowConflicts === true);
    report.after = await clusterState(plan.control);
    return report;
  } finally {
    planned?.delivery?.stop();
    await dispatcher.close().catch(() => {});
  }
}

/** Brings the zone back, takes the data plane's figures, reads every acknowledged write back, then fails back. */
async function restoreAndVerify(
  o: DrillOptions,
  plan: DrillPlan,
  traffic: Traffic,
  report: DrillReport,
): Promise<void> {
  report.restore = { restored: false };
  const healAt = o.clock.now();
  const data = await restoreZone(o, plan);
  report.restore.restored = true;
  plan.delivery?.healed();
  if (data) recordRestoreData(report, data);
  if (plan.accounts) {
    const { ok, failed, affectedFailed } = traffic.counts;
    o.onProgress?.({ elapsedS: o.durationS, durationS: o.durationS, phase: 'read-back', ok, failed, affectedFailed });
    await verifyAckedWrites(report, plan.accounts, plan.apps, o.readBackTimeoutMs ?? 60_000);
    // an external fault has no data-plane snapshot: WRT is bounded by the read-back instead, from
    // the heal until every acknowledged write was applied (or locked) in every zone, the returned one too
    const rb = report.readBack;
    if (!data && rb && rb.missing === 0)
      report.wrt = `≤ ${Math.round(o.clock.now() - healAt)} ms from the heal until every acknowledged write was read back in every zone (${rb.applied} applied, ${rb.locked} locked as conflicts)`;
  }
  if (o.failback) report.restore.failback = await failBack(plan.control, o.zone, o.clock);
  if (plan.external) {
    // read through a zone the fault left alone: routers forward to whoever owns the shard now
    const via = plan.routers.get(plan.zones.find((z) => z !== o.zone) ?? o.zone)!;
    const rb = await plan.external.readBack(via, plan.control.dispatcher, o.readBackTimeoutMs ?? 60_000);
    report.externalReadBack = rb;
    report.lost = rb.missing;
    // lost writes miss the drill's goal, as on the accounts app
    if (rb.missing > 0) report.goal.met = false;
  }
}

/** Delivery: reads every acknowledged order back and counts lost writes and oversold units, which fail the drill. */
async function verifyDelivery(o: DrillOptions, plan: DrillPlan, report: DrillReport): Promise<void> {
  const { ok, failed } = report.requests;
  o.onProgress?.({ elapsedS: o.durationS, durationS: o.durationS, phase: 'read-back', ok, failed, affectedFailed: 0 });
  // read through a zone the fault left alone: routers forward to whoever owns the shard now
  const via = plan.routers.get(plan.zones.find((z) => z !== o.zone) ?? o.zone)!;
  const d = await plan.delivery!.finish(via, plan.control, o.readBackTimeoutMs ?? 60_000, o.zone);
  report.delivery = d;
  report.lost = d.lost.writes;
  if (d.lost.writes > 0 || d.oversold > 0) report.goal.met = false;
}
