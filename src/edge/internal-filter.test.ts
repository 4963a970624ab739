import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopology } from '../../test/support/net.ts';
import type { EdgeCtx } from './context.ts';
import { FILTER_ORDER, internalFilter } from './filters.ts';

test('edge/internal: /internal however spelled stops with 404 ERR_TRUST_INTERNAL_PATH; other paths continue', () => {
  const counted: string[] = [];
  const f = internalFilter.create(testTopology().config.edge, {
    zone: 'sh-a',
    zoneEdges: () => new Map(),
    servesHost: () => true,
    admin: async () => {},
    count: (filter, result) => counted.push(`${filter}:${result}`),
  })!;
  const run = (target: string, raw = target) => {
    const ctx = { target, req: { url: raw }, synth: undefined } as unknown as EdgeCtx;
    return { status: f.onRequest(ctx), synth: ctx.synth };
  };
  for (const [target, raw] of [
    ['/internal/x', '/internal/x'],
    ['/internal/x', '/api/%2e%2e/internal/x'], // validate already normalised it
    ['/%2569nternal', '/%2569nternal'], // double encoding, only decoded here
    ['/api/x', '/api\\..\\internal'], // the raw target counts too
    ['/INTERNAL', '/INTERNAL'],
  ]) {
    const r = run(target!, raw);
    assert.equal(r.status, 'stop', raw);
    assert.deepEqual(r.synth, { status: 404, code: 'ERR_TRUST_INTERNAL_PATH' });
  }
  for (const t of ['/', '/api/internal', '/internals/x', '/static/app.js?x=/internal'])
    assert.equal(run(t).status, 'continue', t);
  assert.equal(counted.length, 5);
  // it runs right after validate, before the host check, admin and anything that forwards
  assert.deepEqual(
    FILTER_ORDER.slice(0, 4).map((x) => x.name),
    ['validate', 'internal', 'host', 'admin'],
  );
});
