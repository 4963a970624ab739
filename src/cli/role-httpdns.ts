import { LatencyAggregator, startHttpdnsServer } from '../httpdns/index.ts';
import type { ZoneRole } from './roles.ts';

/** Name under which the cluster's one speed-report aggregator is published in ctx.shared. */
export const LATENCY_SHARED_KEY = 'httpdns.latency';

/**
 * Each zone's HTTPDNS listener. All zones of a process share one LatencyAggregator (a
 * report sent to any zone ranks for all), wired into steering as `state.latencyRank`.
 */
export const httpdnsRole: ZoneRole = {
  role: 'httpdns',
  async start(ctx, zone) {
    const hp = zone.listen.httpdns;
    if (!hp) return null;
    let aggregator = ctx.shared.get(LATENCY_SHARED_KEY) as LatencyAggregator | undefined;
    if (!aggregator) {
      const cfg = ctx.topology.config.httpdns.reports;
      aggregator = new LatencyAggregator({
        clock: ctx.clock,
        minReports: cfg.minReports,
        halfLifeSeconds: cfg.halfLifeSeconds,
      });
      ctx.shared.set(LATENCY_SHARED_KEY, aggregator);
      ctx.state.latencyRank = aggregator.rank.bind(aggregator);
    }
    const s = await startHttpdnsServer({
      topology: ctx.topology,
      steering: ctx.steering,
      geo: ctx.geo,
      state: ctx.state,
      clock: ctx.clock,
      metrics: ctx.metrics,
      aggregator,
      zone: zone.name,
      host: hp.host,
      port: hp.port,
    });
    ctx.logger.debug({ zone: zone.name, port: s.port }, 'httpdns listening');
    return {
      listeners: [{ zone: zone.name, role: 'httpdns', protocol: s.protocol, host: s.host, port: s.port }],
      close: s.close,
    };
  },
};
