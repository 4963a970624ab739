import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { ManualClock } from '../core/clock.ts';
import { createMetrics } from '../core/metrics.ts';
import { storeErrors } from '../store/errors.ts';
import { RequestSigner } from '../trust/index.ts';
import { readBody } from './http-json.ts';
import { ControlServer, FORWARDED_HEADER, isForwarded } from './server.ts';

test('control API: a refused request is a 400 with its code; a dependency that is down is a 503; a bug is a 500', async (t) => {
  const control = new ControlServer(createMetrics());
  control.route('GET', '/api/refused', () => {
    throw storeErrors.ERR_STORE_CONFLICT_UNKNOWN('no open conflict has this id');
  });
  control.route('GET', '/api/down', () => {
    throw storeErrors.ERR_STORE_UNAVAILABLE('store of sh-a: PostgreSQL cannot be reached (connect ECONNREFUSED)');
  });
  control.route('GET', '/api/bug', () => {
    throw new TypeError('x is undefined');
  });
  const { host, port } = await control.listen('127.0.0.1', 0);
  t.after(() => control.close());
  const get = async (path: string) => {
    const r = await request(`http://${host}:${port}${path}`);
    return [r.statusCode, ((await r.body.json()) as { error: string }).error];
  };
  assert.deepEqual(await get('/api/refused'), [400, 'ERR_STORE_CONFLICT_UNKNOWN']);
  assert.deepEqual(await get('/api/down'), [503, 'ERR_STORE_UNAVAILABLE']);
  assert.deepEqual(await get('/api/bug'), [500, 'ERR_INTERNAL']);
});

test('control API: a forwarded call is taken only signed by the cluster secret, body intact; a tampered or replayed one is a 401', async (t) => {
  const clock = new ManualClock(1_000_000);
  const signer = new RequestSigner({ secret: Buffer.alloc(32, 7), zone: 'sh-a', clock });
  const control = new ControlServer(createMetrics());
  control.setSigner(signer.as('sh-b'));
  const seen: string[] = [];
  control.route('POST', '/api/echo', async (req) => {
    seen.push(`${isForwarded(req)} ${(await readBody(req)).toString()}`);
    return { ok: true };
  });
  const { host, port } = await control.listen('127.0.0.1', 0);
  t.after(() => control.close());
  const post = async (body: string, headers: Record<string, string>) => {
    const r = await request(`http://${host}:${port}/api/echo`, { method: 'POST', body, headers });
    return [r.statusCode, ((await r.body.json()) as { error?: string }).error ?? 'ok'];
  };
  const signed = signer.signHeaders('POST', '/api/echo', { [FORWARDED_HEADER]: '1' }, '{"a":"1"}');
  assert.deepEqual(await post('{"a":"1"}', signed), [200, 'ok']);
  assert.deepEqual(seen, ['true {"a":"1"}']);
  assert.deepEqual(await post('{"a":"1"}', signed), [401, 'ERR_CONTROL_UNAUTHORIZED'], 'replayed');
  const other = signer.signHeaders('POST', '/api/echo', { [FORWARDED_HEADER]: '1' }, '{"a":"1"}');
  assert.deepEqual(await post('{"a":"2"}', other), [401, 'ERR_CONTROL_UNAUTHORIZED'], 'body changed');
  assert.deepEqual(await post('{"a":"1"}', { [FORWARDED_HEADER]: '1' }), [401, 'ERR_CONTROL_UNAUTHORIZED'], 'unsigned');
  // not marked forwarded: an ordinary call, as before
  assert.deepEqual(await post('{"a":"3"}', {}), [200, 'ok']);
  assert.deepEqual(seen, ['true {"a":"1"}', 'false {"a":"3"}']);
});
