import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTING_YAML } from '../../../test/integration/router/fixture.ts';
import { testTopology } from '../../../test/support/net.ts';
import { makeCtx, makeDeps, runStage } from '../../../test/support/router-stage.ts';
import { keyStage } from './key.ts';
import { resourceStage } from './resource.ts';

const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML });
const deps = makeDeps(topology, 'sh-a');

async function keyOf(url: string, headers: Record<string, string>) {
  const { ctx, res } = makeCtx({ url, headers, method: 'POST' });
  await runStage(resourceStage, ctx, deps);
  const r = await runStage(keyStage, ctx, deps);
  return { ctx, res, next: r.next };
}

test('router/key: a table of sources, mappings and fences', async () => {
  const cases: [
    string,
    Record<string, string>,
    Partial<{ key: string; shard: number; keyZone: string; keySource: string }>,
  ][] = [
    ['/api/profiles/1', { 'x-user-id': 'u1' }, { key: 'u1', keySource: 'header:x-user-id' }],
    ['/api/profiles/1', { cookie: 'uid=u2' }, { key: 'u2', keySource: 'cookie:uid' }],
    ['/api/profiles/1?uid=u3', {}, { key: 'u3', keySource: 'query:uid' }],
    ['/api/users/u4', {}, { key: 'u4', keySource: 'path:2' }],
    ['/api/orders/1', { 'x-order-id': 'o12-a' }, { shard: 12, keySource: 'mapping:order' }],
    ['/api/sessions/1', { cookie: 'mz_sid=bj-a.x' }, { keyZone: 'bj-a', keySource: 'mapping:session' }],
    ['/api/tickets/1', { 'x-ticket': 't-k9' }, { key: 'k9', keySource: 'mapping:ticket' }],
    [
      '/api/profiles/1',
      { 'x-geo': '39.9,116.4' },
      { shard: topology.fenceShard('north-china'), keySource: 'geo:north-china' },
    ],
    ['/api/profiles/1', { 'x-geo': '0,0' }, {}],
    ['/api/profiles/1', {}, {}],
  ];
  for (const [url, headers, want] of cases) {
    const { ctx, next } = await keyOf(url, headers);
    assert.ok(next, url);
    assert.deepEqual(
      { key: ctx.key, shard: ctx.shard, keyZone: ctx.keyZone, keySource: ctx.keySource },
      { key: undefined, shard: undefined, keyZone: undefined, keySource: undefined, ...want },
      `${url} ${JSON.stringify(headers)}`,
    );
  }
});

test('router/key: hostile values answer 400 with a code and stop the chain', async () => {
  const bad: [string, Record<string, string>, string][] = [
    ['/api/profiles/1', { 'x-geo': '91,0' }, 'ERR_ROUTER_BAD_KEY'],
    ['/api/profiles/1', { authorization: 'Bearer x' }, 'ERR_ROUTER_BAD_KEY'],
    ['/api/orders/1', { 'x-order-id': 'zzz' }, 'ERR_ROUTER_BAD_KEY'],
    ['/api/orders/1', { 'x-order-id': 'o64-a' }, 'ERR_ROUTER_BAD_KEY'],
    ['/api/sessions/1', { cookie: 'mz_sid=pluto.x' }, 'ERR_ROUTER_UNKNOWN_ZONE'],
    ['/api/profiles/1', { 'x-user-id': 'x'.repeat(257) }, 'ERR_ROUTER_BAD_KEY'],
  ];
  for (const [url, headers, code] of bad) {
    const { res, next } = await keyOf(url, headers);
    assert.equal(next, false, url);
    assert.equal(res.status, 400);
    assert.equal(res.json().error, code);
  }
});
