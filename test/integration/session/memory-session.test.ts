import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { MemorySessionStore } from '../../../src/session/index.ts';
import { sessionContract } from './session.contract.ts';

sessionContract('memory', async () => {
  const clock = new ManualClock();
  const store = new MemorySessionStore(clock);
  return { store, prefix: 'sh-a', advance: async (ms) => clock.advance(ms), cleanup: () => store.close() };
});

test('session(memory): bounded — expired sessions go first, then the oldest written', async () => {
  const clock = new ManualClock();
  const s = new MemorySessionStore(clock, 10);
  await s.put('old.expiring', 1, 10);
  for (let i = 0; i < 9; i++) await s.put(`live.${i}`, i, 60_000);
  clock.advance(20);
  await s.put('new.one', 'n', 60_000); // full: the expired one makes room
  assert.equal(s.size, 10);
  for (let i = 0; i < 9; i++) assert.equal(await s.get(`live.${i}`), i);
  await s.put('new.two', 'n', 60_000); // full of live ones: the oldest tenth goes
  assert.ok(s.size <= 10);
  assert.equal(await s.get('live.0'), undefined);
  assert.equal(await s.get('new.two'), 'n');
});
