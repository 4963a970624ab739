import { registerDashboard } from '../control/index.ts';
import { createHealthChecker, HEALTH_SHARED_KEY, healthReport } from '../health/index.ts';
import type { ClusterPart } from './roles.ts';

/** The failover part's fault switches, if it runs (duck-typed: only `cut` is used). */
interface ZoneCuts {
  cut(a: string, b: string): boolean;
}

/**
 * True when a drill isolated one of the two zones (`ctx.shared.get('failover').faults`):
 * the probe is dropped as a real partition would drop it, so isolation shows in the
 * verdicts and steering stops sending users to the isolated zone.
 */
function isCut(shared: Map<string, unknown>, from: string, to: string): boolean {
  const faults = (shared.get('failover') as { faults?: Partial<ZoneCuts> } | undefined)?.faults;
  return typeof faults?.cut === 'function' && faults.cut(from, to);
}

/**
 * The health checker as a cluster-wide part: every local zone's prober probes every zone's
 * endpoints, verdicts go to the cluster's steering state, and the checker is published as
 * `ctx.shared.get('health')` (absent when `health.enabled` is false). Also serves
 * `GET /api/health` and the dashboard page at `GET /`.
 */
export const healthPart: ClusterPart = {
  name: 'health',
  async start(ctx) {
    registerDashboard(ctx.control);
    const config = ctx.topology.config.health;
    const checker = config.enabled
      ? createHealthChecker({
          topology: ctx.topology,
          config,
          probers: ctx.localZones,
          clock: ctx.clock,
          state: ctx.state,
          metrics: ctx.metrics,
          logger: ctx.logger,
          fault: (from, endpointId) => (isCut(ctx.shared, from, endpointId.split('/')[0]!) ? 'drop' : 'ok'),
        })
      : null;
    if (checker) ctx.shared.set(HEALTH_SHARED_KEY, checker);
    ctx.control.route('GET', '/api/health', () => healthReport(config, checker));
    checker?.start();
    return {
      listeners: [],
      close: async () => {
        await checker?.stop();
      },
    };
  },
};
