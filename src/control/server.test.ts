import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { createMetrics } from '../core/metrics.ts';
import { storeErrors } from '../store/errors.ts';
import { ControlServer } from './server.ts';

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
