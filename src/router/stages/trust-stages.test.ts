// Unit tests of the guard stages: internal-path, body-limit, zone-auth (signed requests).
// test/integration/router/trust.test.ts runs them over real sockets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopology } from '../../../test/support/net.ts';
import { makeCtx, makeDeps, runStage } from '../../../test/support/router-stage.ts';
import { ManualClock } from '../../core/clock.ts';
import { RequestSigner } from '../../trust/index.ts';
import { bodyLimitStage } from './body-limit.ts';
import { internalPathStage } from './internal-path.ts';
import { zoneAuthStage } from './zone-auth.ts';

const topology = testTopology({ roles: ['app', 'router'] });

test('router/internal-path: /internal however spelled is 404 unless the request carries a zone signature', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const cases: [string, Record<string, string>, boolean][] = [
    ['/internal/x', {}, false],
    ['/api/%2e%2e/internal/x', {}, false],
    ['/%69nternal', {}, false],
    ['/INTERNAL?', {}, false],
    ['/api/internal', {}, true],
    ['/api/x', {}, true],
    ['/internal/x', { 'x-multizone-auth': 'v1 junk' }, true], // zone-auth judges it
  ];
  for (const [url, headers, passes] of cases) {
    const { ctx, res } = makeCtx({ url, headers });
    assert.equal((await runStage(internalPathStage, ctx, deps)).next, passes, url);
    if (!passes) {
      assert.equal(res.status, 404);
      assert.equal(res.json().error, 'ERR_TRUST_INTERNAL_PATH');
    }
  }
});

test('router/body-limit: a declared body over maxBodyBytes is 413, and the rest of it is drained', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const config = { ...topology.config.router, maxBodyBytes: 1024 };
  const big = makeCtx({ method: 'POST', headers: { 'content-length': '1025' } });
  let resumed = false;
  Object.assign(big.ctx.req, { on: () => big.ctx.req, resume: () => (resumed = true) });
  assert.equal((await runStage(bodyLimitStage, big.ctx, deps, config)).next, false);
  assert.equal(big.res.status, 413);
  assert.equal(big.res.json().error, 'ERR_ROUTER_BODY_TOO_LARGE');
  assert.ok(resumed, 'the body is read and dropped, so the client can read the 413');
  const ok = makeCtx({ method: 'POST', headers: { 'content-length': '1024' } });
  assert.equal((await runStage(bodyLimitStage, ok.ctx, deps, config)).next, true);
});

test('router/zone-auth: signed requests are trusted; unsigned claims are 401; other routing headers are dropped', async () => {
  const deps = makeDeps(topology, 'sh-a');
  const peer = deps.signer.as('bj-a');
  const signed = peer.signHeaders('GET', '/api/x', { 'x-multizone-hop': '1', 'x-multizone-from': 'bj-a' });
  const a = makeCtx({ url: '/api/x', headers: signed });
  assert.equal((await runStage(zoneAuthStage, a.ctx, deps)).next, true);
  assert.equal(a.ctx.trusted, 'bj-a');
  assert.equal(a.ctx.req.headers['x-multizone-hop'], '1', 'a zone’s routing headers stay');
  // the same signature again: a replay
  const again = makeCtx({ url: '/api/x', headers: signed });
  assert.equal((await runStage(zoneAuthStage, again.ctx, deps)).next, false);
  assert.equal(again.res.status, 401);
  assert.deepEqual([again.res.json().error, again.res.json().reason], ['ERR_TRUST_BAD_SIGNATURE', 'replayed']);
  for (const headers of [{ 'x-multizone-hop': '1' }, { 'x-multizone-from': 'bj-a' }] as Record<string, string>[]) {
    const { ctx, res } = makeCtx({ url: '/api/x', headers });
    assert.equal((await runStage(zoneAuthStage, ctx, deps)).next, false);
    assert.equal(res.status, 401);
  }
  const other = new RequestSigner({ secret: Buffer.alloc(32, 8), zone: 'bj-a', clock: new ManualClock() });
  const forged = makeCtx({ url: '/api/x', headers: other.signHeaders('GET', '/api/x', {}) });
  assert.equal((await runStage(zoneAuthStage, forged.ctx, deps)).next, false);
  assert.equal(forged.res.json().reason, 'signature');
  const plain = makeCtx({
    url: '/api/x',
    headers: { 'x-multizone-epoch': '99', 'x-multizone-zone': 'evil', 'x-user-id': 'a' },
  });
  assert.equal((await runStage(zoneAuthStage, plain.ctx, deps)).next, true);
  assert.deepEqual(plain.ctx.req.headers, { 'x-user-id': 'a' });
  assert.equal(plain.ctx.trusted, undefined);
});
