// Unit tests of the small decision stages: shard, epoch-sync, hops, cookie, fence.
// (forward and local speak HTTP: test/integration/router/chain.test.ts covers them.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTING_YAML } from '../../../test/integration/router/fixture.ts';
import { testTopology } from '../../../test/support/net.ts';
import { makeCtx, makeDeps, runStage, StaticMap } from '../../../test/support/router-stage.ts';
import { shardForKey } from '../../shardmap/index.ts';
import { cookieStage } from './cookie.ts';
import { epochSyncStage } from './epoch-sync.ts';
import { fenceStage } from './fence.ts';
import { hopsStage } from './hops.ts';
import { shardStage } from './shard.ts';

const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML });

test('router/shard: hashes the key, keeps a shard a mapping or fence gave', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const a = makeCtx().ctx;
  a.key = 'alice';
  await runStage(shardStage, a, deps);
  assert.equal(a.shard, shardForKey('alice', 64));
  const b = makeCtx().ctx;
  b.key = 'alice';
  b.shard = 3;
  await runStage(shardStage, b, deps);
  assert.equal(b.shard, 3);
});

test('router/epoch-sync: reads hop, epoch and sender; waits only when the sender is newer', async () => {
  const map = new StaticMap('sh-a');
  let waited: number | undefined;
  map.waitForEpoch = async (_s, e) => {
    waited = e;
    return true;
  };
  const deps = makeDeps(topology, 'sh-a', map);
  const { ctx } = makeCtx({
    headers: { 'x-multizone-hop': '1', 'x-multizone-epoch': '5', 'x-multizone-from': 'bj-a' },
  });
  ctx.shard = 9;
  await runStage(epochSyncStage, ctx, deps);
  assert.deepEqual([ctx.hop, ctx.senderEpoch, ctx.fromZone, waited], [1, 5, 'bj-a', 5]);
  waited = undefined;
  const old = makeCtx({ headers: { 'x-multizone-hop': '1', 'x-multizone-epoch': '1' } }).ctx;
  old.shard = 9;
  await runStage(epochSyncStage, old, deps);
  assert.equal(waited, undefined);
  const junk = makeCtx({ headers: { 'x-multizone-hop': 'lots' } }).ctx;
  await runStage(epochSyncStage, junk, deps);
  assert.equal(junk.hop, 100);
});

test('router/hops: forwarding at the hop limit is refused with 421; serving locally is not', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const cases: [number, string, boolean][] = [
    [0, 'bj-a', true],
    [1, 'bj-a', true],
    [2, 'bj-a', false],
    [2, 'sh-a', true],
  ];
  for (const [hop, target, passes] of cases) {
    const { ctx, res } = makeCtx();
    ctx.hop = hop;
    ctx.target = target;
    const r = await runStage(hopsStage, ctx, deps);
    assert.equal(r.next, passes, `hop ${hop} → ${target}`);
    if (!passes) {
      assert.equal(res.status, 421);
      assert.equal(res.json().error, 'ERR_ROUTER_TOO_MANY_HOPS');
    }
  }
  const { ctx } = makeCtx();
  ctx.hop = 1;
  ctx.target = 'bj-a';
  assert.equal((await runStage(hopsStage, ctx, deps, { ...topology.config.router, maxHops: 1 })).next, false);
});

test('router/cookie: set on first-hop shard routing only, not when the client already has it', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const cases: [number, Record<string, string>, boolean][] = [
    [0, {}, true],
    [0, { cookie: 'mz_zone=bj-a:7' }, false],
    [0, { cookie: 'mz_zone=sh-a:7' }, true],
    [1, {}, false],
  ];
  for (const [hop, headers, sets] of cases) {
    const { ctx } = makeCtx({ headers });
    ctx.hop = hop;
    ctx.shard = 7;
    ctx.owner = { zone: 'bj-a', epoch: 2, notBefore: 0, draining: false, revision: 1 };
    await runStage(cookieStage, ctx, deps);
    assert.equal(
      ctx.responseHeaders['set-cookie']?.startsWith('mz_zone=bj-a:7;') ?? false,
      sets,
      JSON.stringify([hop, headers]),
    );
  }
});

test('router/fence: writes pass only when the map allows this zone to write now', async () => {
  const map = new StaticMap('sh-a');
  const deps = makeDeps(topology, 'sh-a', map);
  const run = async (method: string, target: string, epoch: number, setup?: () => void) => {
    map.writable = true;
    setup?.();
    const { ctx, res } = makeCtx({ method });
    ctx.shard = 5;
    ctx.target = target;
    ctx.owner = map.entry(5);
    ctx.owner = { ...ctx.owner, epoch };
    const r = await runStage(fenceStage, ctx, deps);
    return { next: r.next, status: res.status, error: r.next ? undefined : res.json().error };
  };
  assert.deepEqual(await run('POST', 'sh-a', 1), { next: true, status: 0, error: undefined });
  assert.deepEqual(await run('POST', 'sh-a', 0), { next: false, status: 503, error: 'ERR_ROUTER_FENCED' }); // stale epoch
  assert.deepEqual(await run('POST', 'sh-a', 1, () => (map.writable = false)), {
    next: false,
    status: 503,
    error: 'ERR_ROUTER_FENCED',
  });
  assert.deepEqual(await run('GET', 'sh-a', 0), { next: true, status: 0, error: undefined }); // reads are not fenced
  assert.deepEqual(await run('POST', 'bj-a', 0), { next: true, status: 0, error: undefined }); // not ours to judge
});
