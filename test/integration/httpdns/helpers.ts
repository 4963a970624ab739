/** Shared setup for the HTTPDNS integration tests: a topology, steering and a server on 127.0.0.1:0. */
import { ManualClock } from '../../../src/core/clock.ts';
import { createMetrics } from '../../../src/core/metrics.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { type HttpdnsConfig, LatencyAggregator, startHttpdnsServer } from '../../../src/httpdns/index.ts';
import { createSteering, MutableSteeringState } from '../../../src/steering/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

export const SECRET = 'test-secret-0123456789abcdef';

/**
 * Zones on their own loopback addresses (sh-a 127.0.1.1, sh-b 127.0.2.1, bj-a 127.0.3.1,
 * gz-a 127.0.4.1) so answers show steering; bj-a also has an IPv6 address.
 */
export function httpdnsTopologyYaml(opts: { latency?: boolean; perZone?: boolean; httpdns?: string } = {}): string {
  let y = testTopologyYaml({ roles: ['edge', 'httpdns'], loopbackPerZone: opts.perZone ?? true });
  y = y.replace('  bj-a:\n', '  bj-a:\n    addresses6: ["2001:db8::3"]\n');
  y = y.replace(
    'services:\n',
    'services:\n  static.shop.test: { role: edge, ttl: 300, policy: nearest, txt: ["v=1"] }\n  www.shop.test: { cname: api.shop.test }\n  a.b.shop.test: { role: edge }\n',
  );
  if (opts.latency)
    y = y.replace(
      '    default: [[sh-a, sh-b], bj-a, gz-a]\n',
      '    default: [[sh-a, sh-b], bj-a, gz-a]\n    latency: true\n',
    );
  if (opts.httpdns) y += `httpdns:\n${opts.httpdns}\n`;
  return y;
}

export async function startTestHttpdns(
  opts: { latency?: boolean; perZone?: boolean; config?: Partial<HttpdnsConfig>; httpdns?: string } = {},
) {
  const topology = parseTopology(httpdnsTopologyYaml(opts), 'httpdns-test.yaml');
  const clock = new ManualClock(0, 1_800_000_000_000);
  const metrics = createMetrics();
  const state = new MutableSteeringState();
  const steering = createSteering({ topology, geo: defaultGeoDb(), random: seededRandom(7), state });
  const config: HttpdnsConfig = { ...topology.config.httpdns, ...opts.config };
  const aggregator = new LatencyAggregator({
    clock,
    minReports: config.reports.minReports,
    halfLifeSeconds: config.reports.halfLifeSeconds,
  });
  state.latencyRank = aggregator.rank.bind(aggregator);
  const server = await startHttpdnsServer({
    topology,
    steering,
    geo: defaultGeoDb(),
    state,
    config,
    clock,
    metrics,
    aggregator,
    zone: 'sh-a',
    host: '127.0.0.1',
    port: 0,
  });
  const base = `${server.protocol}://127.0.0.1:${server.port}`;
  return { topology, clock, metrics, state, steering, server, aggregator, base };
}
