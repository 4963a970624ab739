import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compose } from './compose.ts';
import type { RouteContext } from './types.ts';

test('router: compose runs stages in order and stops when one answers', async () => {
  const seen: string[] = [];
  const run = compose([
    async (_c, next) => {
      seen.push('a');
      await next();
      seen.push('a-after');
    },
    async () => {
      seen.push('b');
    },
    async () => {
      seen.push('never');
    },
  ]);
  await run({} as RouteContext);
  assert.deepEqual(seen, ['a', 'b', 'a-after']);
});

test('router: compose refuses next() called twice', async () => {
  const run = compose([
    async (_c, next) => {
      await next();
      await next();
    },
  ]);
  await assert.rejects(run({} as RouteContext), /twice/);
});
