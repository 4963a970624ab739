import type { DrillPlan } from './plan.ts';
import type { Sample, Traffic } from './traffic.ts';
import type { DrillOptions, DrillReport, RestoreData } from './types.ts';

const NA = 'n/a (no data plane in the cluster, or the zone was not restored)';

/** The client's timeout (ms): a request sent this close before the fault may fail because of it. */
const CLIENT_TIMEOUT_MS = 2000;

/** The report as the traffic and the shard history left it; restore, read-back and failback fill in the rest. */
export function buildReport(
  o: DrillOptions,
  plan: DrillPlan,
  traffic: Traffic,
  misrouted: DrillReport['misrouted'],
  moved: DrillReport['moved'],
): DrillReport {
  const { samples, counts } = traffic;
  const rto = rtoMs(samples);
  const leaseMs = plan.shardMap.config.leaseMs;
  const goalRto = goalRtoMs(plan.consistency, leaseMs);
  return {
    workload: plan.workload,
    zone: o.zone,
    mode: o.mode,
    fault: o.external ? 'external' : 'control-api',
    faultAt: Number.isFinite(traffic.faultAt) ? traffic.faultAt : null,
    observer: plan.control.base,
    consistency: plan.consistency,
    path: plan.path,
    rps: o.rps,
    durationS: o.durationS,
    users: { total: plan.users.length, affected: plan.affectedUsers },
    requests: {
      total: samples.length,
      ok: counts.ok,
      failed: counts.failed,
      affected: samples.filter((s) => s.affected).length,
      affectedOk: samples.filter((s) => s.affected && s.ok).length,
    },
    baseline: baselineShare(samples),
    rtoMs: rto,
    goal: {
      rtoMs: goalRto,
      met: rto !== null && rto <= goalRto && (plan.consistency !== 'fenced' || misrouted.writes === 0),
      misroutedWrites: misrouted.writes,
    },
    leaseMs,
    errors: errorKinds(samples),
    misrouted,
    moved,
    perSecond: perSecond(samples),
    rpo: NA,
    wrt: NA,
    lost: null,
    ...(plan.accounts ? { relogins: plan.accounts.relogins, setupRetries: plan.accounts.setupRetries } : {}),
  };
}

/**
 * The faulted zone's acknowledged writes the survivors did not hold when the traffic ended: the
 * RPO the drill measured itself (it includes what a cut-off zone acknowledged after the cut).
 */
export function recordUnshipped(report: DrillReport, u: NonNullable<DrillReport['unshipped']>): void {
  report.unshipped = u;
  report.rpo = `${u.count} acknowledged writes of ${report.zone} not in the surviving zones (${u.afterCut} acknowledged after the cut), ${Math.round(u.windowMs)} ms window`;
}

/** Conflicts the drill opened (open after it, not before); they fail the drill unless allowed. */
export function recordConflicts(
  report: DrillReport,
  before: ReadonlySet<string>,
  after: ReadonlySet<string>,
  allowed: boolean,
): void {
  const opened = [...after].filter((id) => !before.has(id)).length;
  report.conflicts = { before: before.size, after: after.size, opened, allowed };
  if (opened > 0 && !allowed) report.goal.met = false;
}

/** Puts what the data plane measured at restore into the report: RPO, WRT and its count of lost writes. */
export function recordRestoreData(report: DrillReport, d: RestoreData): void {
  report.data = d;
  // the drill's own count (survivors read at the end of the traffic) wins: the data plane's
  // snapshot is taken at the cut, before what a cut-off zone acknowledges after it
  if (!report.unshipped)
    report.rpo = `${d.rpo.count} acknowledged writes unshipped, ${Math.round(d.rpo.windowMs)} ms window`;
  report.wrt =
    d.wrtMs === null
      ? `not repaired within 60 s (${d.pending} pending)`
      : `${Math.round(d.wrtMs)} ms (${d.applied} applied, ${d.locked} locked as conflicts)`;
  report.lost = d.lost;
}

/** The RTO goal: 2 s, plus the lease on fenced shards (their new owner writes only once the old lease is out). */
export function goalRtoMs(consistency: DrillReport['consistency'], leaseMs: number): number {
  return consistency === 'fenced' ? leaseMs + 2000 : 2000;
}

/**
 * ms from the fault to the start of the first 1 s window (sliding in 100 ms steps, starting no
 * earlier than 1 s before the first failure) in which ≥ 99 % of affected users' requests
 * succeed: 0 when none failed after the fault, null when no window recovered. `t0` is relative to the fault.
 */
export function rtoMs(samples: readonly Sample[]): number | null {
  const aff = samples.filter((s) => s.affected && s.t0 >= 0).sort((a, b) => a.t0 - b.t0);
  const firstFail = aff.find((s) => !s.ok);
  if (!firstFail) return 0;
  const last = aff.at(-1)?.t0 ?? 0;
  for (let t = 0; t + 1000 <= last + 1; t += 100) {
    let n = 0;
    let good = 0;
    for (const s of aff) {
      if (s.t0 < t) continue;
      if (s.t0 >= t + 1000) break;
      n++;
      if (s.ok) good++;
    }
    if (t >= firstFail.t0 - 1000 && n > 0 && good / n >= 0.99) return t;
  }
  return null;
}

/** Requests, successes and error kinds per second relative to the fault (second 0 starts at it), in order. */
export function perSecond(samples: readonly Sample[]): DrillReport['perSecond'] {
  const rows: DrillReport['perSecond'] = [];
  for (const s of samples) {
    const sec = Math.floor(s.t0 / 1000);
    // a sample taken when the fault was never sent has t0 −∞
    if (!Number.isFinite(sec)) continue;
    let row = rows.find((r) => r.second === sec);
    if (!row) {
      row = { second: sec, affected: 0, affectedOk: 0, total: 0, ok: 0, errors: {} };
      rows.push(row);
    }
    row.total++;
    if (s.ok) row.ok++;
    else row.errors[s.kind] = (row.errors[s.kind] ?? 0) + 1;
    if (s.affected) {
      row.affected++;
      if (s.ok) row.affectedOk++;
    }
  }
  return rows.sort((a, b) => a.second - b.second);
}

/** Failed requests by kind. */
export function errorKinds(samples: readonly Sample[]): Record<string, number> {
  const errors: Record<string, number> = {};
  for (const s of samples) if (!s.ok) errors[s.kind] = (errors[s.kind] ?? 0) + 1;
  return errors;
}

/**
 * Share of requests sent more than the client timeout before the fault that succeeded (1 when
 * there were none): a low one means the cluster or the machine was overloaded, not the fault.
 */
export function baselineShare(samples: readonly Sample[]): number {
  const before = samples.filter((s) => s.t0 < -CLIENT_TIMEOUT_MS);
  return before.length ? before.filter((s) => s.ok).length / before.length : 1;
}
