import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopologyYaml } from '../../test/support/net.ts';
import type { ConfigProblem } from '../core/config.ts';
import { parseTopology } from '../topology/index.ts';

function problems(extra: string): ConfigProblem[] {
  try {
    parseTopology(testTopologyYaml({ extra }), 't.yaml');
    return [];
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'ERR_CONFIG_INVALID');
    return ((e as { details: { problems: ConfigProblem[] } }).details.problems ?? []).filter(
      (p) => p.severity === 'error',
    );
  }
}

test('router/config: bad router and failover sections are refused at the field', () => {
  const cases: [string, string][] = [
    ['router: { defaultZone: nearest }', 'router.defaultZone'],
    ['router: { maxHops: 0 }', 'router.maxHops'],
    ['router: { timeouts: { connectMs: 1 } }', 'router.timeouts.connectMs'],
    ['router: { pool: { connections: 0 } }', 'router.pool.connections'],
    ['router: { cookie: { name: "mz zone" } }', 'router.cookie.name'],
    ['router: { hops: 2 }', 'router.hops'],
    ['failover: { leaseMs: 50 }', 'failover.leaseMs'],
    ['failover: { leaseMs: 1000, renewMs: 800 }', 'failover.renewMs'],
    ['failover: { verdicts: quorum }', 'failover.verdicts'],
    ['failover: { kv: { type: redis } }', 'failover.kv.type'],
    ['failover: { kv: { type: nats, bucket: "a.b" } }', 'failover.kv.bucket'],
    ['failover: { check: { intervalMs: 5 } }', 'failover.check.intervalMs'],
  ];
  for (const [yaml, path] of cases) {
    const p = problems(yaml);
    assert.ok(
      p.some((x) => x.path === path),
      `${yaml}: expected a problem at ${path}, got ${JSON.stringify(p.map((x) => x.path))}`,
    );
  }
});

test('router/config: defaults fill an empty section', () => {
  const t = parseTopology(testTopologyYaml(), 't.yaml');
  assert.equal(t.config.router.maxHops, 2);
  assert.equal(t.config.router.defaultZone, 'local');
  assert.equal(t.config.router.cookie.name, 'mz_zone');
  assert.equal(t.config.failover.kv.type, 'memory');
  assert.ok(t.config.failover.renewMs * 2 <= t.config.failover.leaseMs);
});
