import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTING_YAML } from '../../../test/integration/router/fixture.ts';
import { testTopology } from '../../../test/support/net.ts';
import { makeCtx, makeDeps, runStage, StaticMap } from '../../../test/support/router-stage.ts';
import { GLOBAL } from '../../shardmap/index.ts';
import { keyStage } from './key.ts';
import { policyStage } from './policy.ts';
import { resourceStage } from './resource.ts';
import { shardStage } from './shard.ts';

const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML });
const map = new StaticMap('gz-a');
map.owners.set(GLOBAL, { zone: 'sh-b', epoch: 4 }); // the core role moved to sh-b
const deps = makeDeps(topology, 'bj-a', map);

async function route(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  config = topology.config.router,
) {
  const { ctx } = makeCtx({ method, url, headers });
  for (const s of [resourceStage, keyStage, shardStage, policyStage]) await runStage(s, ctx, deps, config);
  return { target: ctx.target, why: ctx.why, secondRead: ctx.secondRead, shard: ctx.shard };
}

test('router/policy: class rules decide the zone', async () => {
  const u = { 'x-user-id': 'alice' };
  const r = await route('GET', '/api/accounts/1', u);
  assert.deepEqual([r.target, r.why, r.secondRead], ['bj-a', 'global-read', false]);
  const w = await route('POST', '/api/accounts', u);
  assert.equal(w.target, 'sh-b');
  assert.equal(w.why, 'core-write');
  assert.equal(w.shard, GLOBAL);
  assert.equal((await route('POST', '/api/profiles/1', u)).target, 'gz-a');
  const replica = await route('GET', '/api/profiles/1', u);
  assert.deepEqual([replica.target, replica.why, replica.secondRead], ['bj-a', 'local-read', true]);
  assert.equal((await route('GET', '/api/tickets/1', { 'x-ticket': 't-a' })).target, 'gz-a'); // seconds-fresh: owner
  assert.equal((await route('GET', '/api/sessions/1', { cookie: 'mz_sid=sh-a.x' })).target, 'sh-a');
  assert.equal((await route('GET', '/api/sessions/1')).target, 'bj-a');
});

test('router/policy: no key goes to router.defaultZone (local or the current core zone)', async () => {
  assert.equal((await route('POST', '/x')).target, 'bj-a');
  const core = { ...topology.config.router, defaultZone: 'core' as const };
  assert.equal((await route('POST', '/x', {}, core)).target, 'sh-b');
});

test('router/policy: second read is off when configured off', async () => {
  const off = { ...topology.config.router, secondRead: false };
  assert.equal((await route('GET', '/api/profiles/1', { 'x-user-id': 'alice' }, off)).secondRead, false);
});
