import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { PlatformError } from '../core/errors.ts';
import { loadTopology, parseTopology } from '../topology/index.ts';

const base = `apex: shop.test
regions: { r: {} }
zones:
  a: { region: r, core: true, listen: { app: 127.0.0.1:0 } }
services:
  api.shop.test: { role: app }
policies:
  nearest: { default: [a] }
`;

it('health: the config section has defaults for every field', () => {
  const h = loadTopology().config.health;
  assert.deepEqual(
    [h.enabled, h.intervalMs, h.timeoutMs, h.rise, h.fall, h.quorum],
    [true, 2000, 1000, 2, 3, 'majority'],
  );
  assert.equal(h.probes.dns.kind, 'dns');
  assert.deepEqual(h.probes.router, { kind: 'http', path: '/_mz/health', expectStatus: ['2xx'] });
  assert.deepEqual(h.probes.edge, { kind: 'http', path: '/healthz', expectStatus: ['2xx', '3xx', '4xx'] });
});

it('health: bad health config is refused with its location', () => {
  const bad = (yaml: string) => {
    try {
      parseTopology(`${base}${yaml}`, 'h.yaml');
    } catch (e) {
      const err = e as PlatformError;
      assert.equal(err.code, 'ERR_CONFIG_INVALID');
      return (err.details!.problems as { path: string; line: number }[]).map((p) => `${p.path}@${p.line}`);
    }
    assert.fail('expected ERR_CONFIG_INVALID');
  };
  assert.deepEqual(bad('health: { intervalMs: 1000, timeoutMs: 1500 }\n'), ['health.timeoutMs@9']);
  assert.deepEqual(bad('health:\n  probes:\n    edge: { kind: ping }\n'), ['health.probes.edge.kind@11']);
  assert.deepEqual(bad('health:\n  probes:\n    app: { kind: http, expectStatus: [ok] }\n'), [
    'health.probes.app.expectStatus.0@11',
  ]);
  assert.deepEqual(bad('health: { quorum: most }\n'), ['health.quorum@9']);
  assert.deepEqual(bad('health: { rise: 0 }\n'), ['health.rise@9']);
});
