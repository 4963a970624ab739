import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { Collapser } from './collapser.ts';

test('edge/collapse: waiters get the leader’s outcome; the key is free again afterwards', async () => {
  const c = new Collapser<string>(new ManualClock());
  const lead = c.lead('k');
  assert.ok(lead);
  assert.equal(c.lead('k'), undefined);
  const w = [c.wait('k', 1000), c.wait('k', 1000)];
  assert.equal(c.waiters('k'), 2);
  lead.done('stored');
  assert.deepEqual(await Promise.all(w), ['stored', 'stored']);
  assert.equal(c.isBusy('k'), false);
  assert.equal(c.wait('k', 1000), undefined);
});

test('edge/collapse: a waiter times out on the clock with ERR_EDGE_COLLAPSE_TIMEOUT', async () => {
  const clock = new ManualClock();
  const c = new Collapser<string>(clock);
  c.lead('k');
  const w = c.wait('k', 500)!;
  clock.advance(499);
  clock.advance(1);
  await assert.rejects(w, { code: 'ERR_EDGE_COLLAPSE_TIMEOUT' });
});

test('edge/collapse: a failed lead rejects waiters and frees the key', async () => {
  const c = new Collapser<string>(new ManualClock());
  const lead = c.lead('k')!;
  const w = c.wait('k', 500)!;
  lead.fail(Object.assign(new Error('x'), { code: 'ERR_EDGE_UPSTREAM' }));
  await assert.rejects(w, { code: 'ERR_EDGE_UPSTREAM' });
  assert.ok(c.lead('k'));
});
