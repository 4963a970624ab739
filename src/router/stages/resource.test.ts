import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopology } from '../../../test/support/net.ts';
import { makeCtx, makeDeps, runStage } from '../../../test/support/router-stage.ts';
import { resourceStage } from './resource.ts';

test('router/resource: the longest path prefix wins, on segment boundaries only', async () => {
  const topology = testTopology({
    extra: `
resources:
  api: { class: global, paths: [/api] }
  orders: { class: sharded, paths: [/api/orders] }
  special: { class: local, paths: [/api/orders/special/] }
`,
  });
  const deps = makeDeps(topology, 'sh-a');
  const cases: [string, string | undefined][] = [
    ['/api/orders/1', 'orders'],
    ['/api/orders', 'orders'],
    ['/api/ordersX', 'api'],
    ['/api/orders/special/7?x=1', 'special'],
    ['/api', 'api'],
    ['/apix', undefined],
    ['/', undefined],
  ];
  for (const [url, want] of cases) {
    const { ctx } = makeCtx({ url });
    await runStage(resourceStage, ctx, deps);
    assert.equal(ctx.resource?.name, want, url);
  }
});

test('router/resource: no resources, no stage', () => {
  const topology = testTopology();
  assert.equal(resourceStage.create(topology.config.router, makeDeps(topology, 'sh-a')), null);
});
