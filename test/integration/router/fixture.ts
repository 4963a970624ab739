/** A small four-zone cluster (app + router per zone) with every key source, class and mapping. */

import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';

export const ROUTING_YAML = `
shards:
  count: 64
  key:
    - header: x-user-id
    - cookie: uid
    - jwt: sub
    - query: uid
    - { path: 2, prefix: /api/users }
  geo:
    - header: x-geo
  fences:
    north-china:
      zone: bj-a
      geometry: { type: Polygon, coordinates: [[[105, 35], [135, 35], [135, 54], [105, 54], [105, 35]]] }
  mappings:
    order:
      from: [{ header: x-order-id }]
      pattern: '^o(?<shard>\\d{1,5})-'
    session:
      from: [{ cookie: mz_sid }]
      pattern: '^(?<zone>[a-z][a-z0-9-]*)\\.'
    ticket:
      from: [{ header: x-ticket }]
      pattern: '^t-(?<key>[a-z0-9]+)$'
resources:
  accounts: { class: global, paths: [/api/accounts] }
  profiles: { class: sharded, paths: [/api/profiles, /api/users], freshness: minutes }
  orders: { class: sharded, paths: [/api/orders], key: order, consistency: available }
  sessions: { class: local, paths: [/api/sessions], key: session, regenerable: true, lossTolerant: true }
  tickets: { class: sharded, paths: [/api/tickets], key: ticket }
health: { enabled: false }
`;

/** Failover timings short enough for tests: a dead zone's shards move within about a second. */
export const FAST_FAILOVER_YAML = `
failover:
  after: 300
  leaseMs: 1200
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 50, timeoutMs: 150 }
`;

export async function startRoutingCluster(extra = ''): Promise<RunningCluster> {
  const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML + extra });
  return startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
}

/** Router base URL of each zone. */
export function routerUrls(c: RunningCluster): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of c.listeners) if (l.role === 'router' && l.zone) out[l.zone] = `http://${l.host}:${l.port}`;
  return out;
}
