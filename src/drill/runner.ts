import { Agent } from 'undici';
import type { Control } from './control-http.ts';
import { failBack, faultZone, restoreZone } from './fault.ts';
import { type DrillPlan, planDrill } from './plan.ts';
import { buildReport, recordRestoreData } from './report.ts';
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
  const control: Control = { base: o.control.replace(/\/$/, ''), dispatcher };
  try {
    const plan = await planDrill(o, control);
    const traffic = await driveTraffic(o, plan, () =>
      o.external ? o.external.cut() : faultZone(control, o.zone, o.mode),
    );
    const { owners, moved } = await readShardMoves(plan, o.zone);
    const misrouted = countMisroutedWrites(traffic.samples, owners, o.consistency);
    const report = buildReport(o, plan, traffic, misrouted, moved);
    if (o.restore) await restoreAndVerify(o, plan, traffic, report);
    return report;
  } finally {
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
  // an external fault heals outside the control API: no data plane figures (RestoreData) then
  const data = o.external ? await o.external.heal() : await restoreZone(plan.control, o.zone);
  report.restore.restored = true;
  if (data) recordRestoreData(report, data);
  if (plan.accounts) {
    const { ok, failed, affectedFailed } = traffic.counts;
    o.onProgress?.({ elapsedS: o.durationS, durationS: o.durationS, phase: 'read-back', ok, failed, affectedFailed });
    await verifyAckedWrites(report, plan.accounts, plan.apps, o.readBackTimeoutMs ?? 60_000);
  }
  if (o.failback) report.restore.failback = await failBack(plan.control, o.zone, o.clock);
}
