import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, systemClock } from '../../../src/core/clock.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { type LogBatch, MemoryLog } from '../../../src/replication/index.ts';
import { batch, logContract } from './log.contract.ts';

const shared = new Map<string, MemoryLog>();
logContract('memory', async () => ({
  // one in-process log per namespace: reopening reaches the same streams and consumer positions
  open: async (ns) => {
    let l = shared.get(ns);
    if (!l) {
      l = new MemoryLog({ clock: systemClock, random: seededRandom(1) });
      shared.set(ns, l);
    }
    return {
      kind: l.kind,
      append: (b) => l.append(b),
      subscribe: (o, d, a, h) => l.subscribe(o, d, a, h),
      ackedUpTo: (o, d) => l.ackedUpTo(o, d),
      close: async () => {},
    };
  },
  cleanup: async () => {
    for (const l of shared.values()) await l.close();
  },
}));

test('memory log: WAN delay is applied on the receiving side, jitter never reorders an origin', async () => {
  const clock = new ManualClock();
  const log = new MemoryLog({ clock, random: seededRandom(7), wan: { delayMs: 30, jitterMs: 20 } });
  const got: { from: number; at: number }[] = [];
  await log.subscribe('sh-a', 'gz-a', 0, async (b: LogBatch) => void got.push({ from: b.from, at: clock.now() }));
  for (let s = 1; s <= 10; s++) {
    await log.append(batch('sh-a', s, s));
    await clock.advanceAsync(1);
  }
  assert.equal(got.length, 0);
  await clock.advanceAsync(100);
  assert.deepEqual(
    got.map((g) => g.from),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.ok(got.every((g, i) => g.at >= i + 30));
  await log.close();
});

test('memory log: a cut link holds batches back and delivers them after healing; loss drops for good', async () => {
  const clock = new ManualClock();
  const log = new MemoryLog({ clock, random: seededRandom(3) });
  const got: number[] = [];
  await log.subscribe('sh-a', 'bj-a', 0, async (b) => void got.push(b.from));
  log.cut('sh-a', 'bj-a');
  await log.append(batch('sh-a', 1, 1));
  await clock.advanceAsync(50);
  assert.deepEqual(got, []);
  log.heal('bj-a', 'sh-a');
  await clock.advanceAsync(5);
  assert.deepEqual(got, [1]);
  log.setWan({ loss: 1 });
  await log.append(batch('sh-a', 2, 2));
  await clock.advanceAsync(5);
  log.setWan({ loss: 0 });
  await log.append(batch('sh-a', 3, 3));
  await clock.advanceAsync(5);
  assert.deepEqual(got, [1, 3]);
  assert.equal(log.dropped, 1);
  await log.close();
});

test('memory log: batches every destination has finished are trimmed, so memory stays bounded', async () => {
  const clock = new ManualClock();
  const log = new MemoryLog({ clock, random: seededRandom(1) });
  const got: number[] = [];
  await log.subscribe('sh-a', 'sh-b', 0, async (b) => void got.push(b.to));
  await log.subscribe('sh-a', 'gz-a', 0, async () => {});
  for (let s = 1; s <= 5000; s++) {
    await log.append(batch('sh-a', s, s));
    if (s % 100 === 0) await clock.advanceAsync(1, 1);
  }
  await clock.advanceAsync(5, 1);
  assert.equal(got.length, 5000);
  assert.equal(log.length('sh-a'), 5000);
  // at most TRIM_AT (256) delivered batches, plus the 100 appended since the destinations caught up
  assert.ok(log.retained('sh-a') <= 356, `retained ${log.retained('sh-a')}`);
  assert.equal(await log.ackedUpTo('sh-a', 'sh-b'), 5000);
  await log.close();
});
