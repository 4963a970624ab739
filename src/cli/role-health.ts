import { registerDashboard } from '../control/index.ts';
import { createHealthChecker, HEALTH_SHARED_KEY, healthReport } from '../health/index.ts';
import type { ClusterPart } from './roles.ts';

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
