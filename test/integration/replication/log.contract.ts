/** The Log contract: the in-process and JetStream adapters run this same suite. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import type { Log, LogBatch } from '../../../src/replication/index.ts';
import type { Change } from '../../../src/store/index.ts';

export interface LogFactory {
  /** A log over fresh streams (unique names); opening twice with the same ns reaches the same streams. */
  open(ns: string): Promise<Log>;
  cleanup(): Promise<void>;
}

/** Polls until cond() holds (bounded: 500 × 10 ms). */
export async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await systemClock.sleep(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function change(origin: string, seq: number): Change {
  return {
    seq,
    origin,
    shard: seq % 16,
    epoch: 1,
    cls: 'sharded',
    resource: 'profiles',
    key: `k${seq}`,
    value: { n: seq, s: 'ü' },
    deleted: false,
    vv: { [origin]: seq },
    version: seq,
    time: 1_700_000_000_000 + seq,
  };
}

/** A batch covering from..to. */
export function batch(origin: string, from: number, to: number): LogBatch {
  const changes: Change[] = [];
  for (let s = from; s <= to; s++) changes.push(change(origin, s));
  return { origin, from, to, changes, sentAt: 1_700_000_000_000 };
}

export function logContract(name: string, makeFactory: () => Promise<LogFactory | undefined>): void {
  describe(`log contract: ${name}`, async () => {
    const factory = await makeFactory();
    if (!factory) return;
    const logs: Log[] = [];
    let n = 0;
    const open = async (ns = `n${++n}`) => {
      const l = await factory.open(ns);
      logs.push(l);
      return l;
    };
    after(async () => {
      for (const l of logs) await l.close();
      await factory.cleanup();
    });

    test(`${name}: every destination gets every batch of an origin, in order and intact`, async () => {
      const log = await open();
      const got = new Map<string, LogBatch[]>();
      for (const d of ['sh-b', 'bj-a', 'gz-a']) {
        got.set(d, []);
        await log.subscribe('sh-a', d, 0, async (b) => {
          got.get(d)!.push(b);
        });
      }
      for (let i = 0; i < 20; i++) await log.append(batch('sh-a', i * 5 + 1, i * 5 + 5));
      await until(() => [...got.values()].every((g) => g.length === 20), 'all batches');
      for (const g of got.values()) {
        assert.deepEqual(
          g.map((b) => b.from),
          Array.from({ length: 20 }, (_, i) => i * 5 + 1),
        );
        assert.deepEqual(g[3], batch('sh-a', 16, 20));
      }
    });

    test(`${name}: origins are independent streams`, async () => {
      const log = await open();
      const got: string[] = [];
      await log.subscribe('sh-a', 'gz-a', 0, async (b) => void got.push(`a${b.from}`));
      await log.subscribe('sh-b', 'gz-a', 0, async (b) => void got.push(`b${b.from}`));
      await log.append(batch('sh-a', 1, 1));
      await log.append(batch('sh-b', 1, 2));
      await log.append(batch('sh-a', 2, 3));
      await until(() => got.length === 3, 'three batches');
      assert.deepEqual(
        got.filter((x) => x.startsWith('a')),
        ['a1', 'a2'],
      );
      assert.deepEqual(
        got.filter((x) => x.startsWith('b')),
        ['b1'],
      );
    });

    test(`${name}: a handler that throws gets the same batch again, and order holds`, async () => {
      const log = await open();
      const got: number[] = [];
      let failures = 0;
      await log.subscribe('sh-a', 'sh-b', 0, async (b) => {
        if (b.from === 2 && failures < 2) {
          failures++;
          throw new Error('store busy');
        }
        got.push(b.from);
      });
      for (let s = 1; s <= 4; s++) await log.append(batch('sh-a', s, s));
      await until(() => got.length === 4, 'four batches');
      assert.deepEqual(got, [1, 2, 3, 4]);
      assert.equal(failures, 2);
    });

    test(`${name}: a new subscription for the same pair resumes after what was handled`, async () => {
      const ns = `n${++n}`;
      const log = await open(ns);
      const first: number[] = [];
      const sub = await log.subscribe('sh-a', 'bj-a', 0, async (b) => void first.push(b.to));
      for (let s = 1; s <= 3; s++) await log.append(batch('sh-a', s, s));
      await until(() => first.length === 3, 'first three');
      await sub.close();
      for (let s = 4; s <= 6; s++) await log.append(batch('sh-a', s, s));
      const again = await open(ns);
      const second: number[] = [];
      // afterSeq 3 = the destination's durable cursor
      await again.subscribe('sh-a', 'bj-a', 3, async (b) => void second.push(b.to));
      await until(() => second.length === 3, 'the next three');
      assert.deepEqual(second, [4, 5, 6]);
    });

    test(`${name}: batches delivered to a closed subscription but not handled come first, in order, to the next`, async () => {
      const ns = `n${++n}`;
      const log = await open(ns);
      const first: number[] = [];
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let inTwo = false;
      const sub = await log.subscribe('sh-a', 'gz-a', 0, async (b) => {
        if (b.to === 2) {
          inTwo = true;
          await held;
        }
        first.push(b.to);
      });
      for (let s = 1; s <= 6; s++) await log.append(batch('sh-a', s, s));
      await until(() => inTwo, 'the handler in batch 2');
      // a log may have handed 3..6 to the subscription already: it closes before handling them
      const closing = sub.close();
      release();
      await closing;
      const handled = first.at(-1)!;
      // newer batches arrive before the next subscription starts
      for (let s = 7; s <= 8; s++) await log.append(batch('sh-a', s, s));
      const again = await open(ns);
      const second: number[] = [];
      let go!: () => void;
      const gate = new Promise<void>((r) => {
        go = r;
      });
      await again.subscribe('sh-a', 'gz-a', handled, async (b) => {
        await gate;
        second.push(b.to);
      });
      // what the destination finished is still what it finished
      assert.equal(await again.ackedUpTo('sh-a', 'gz-a'), handled);
      go();
      await until(() => second.at(-1) === 8, 'batch 8');
      assert.deepEqual(
        second,
        Array.from({ length: 8 - handled }, (_, i) => handled + 1 + i),
      );
    });

    test(`${name}: an Applied batch counts finished only once durable, in order; the next subscription gets back the rest`, async () => {
      const ns = `n${++n}`;
      const log = await open(ns);
      const got: number[] = [];
      const durable = new Map<number, { ok: () => void; fail: (e: Error) => void }>();
      const sub = await log.subscribe('sh-a', 'bj-a', 0, async (b) => {
        got.push(b.to);
        if (b.to === 1) return; // finished at once
        return { durable: new Promise<void>((ok, fail) => durable.set(b.to, { ok, fail })) };
      });
      for (let s = 1; s <= 5; s++) await log.append(batch('sh-a', s, s));
      // the next batch comes without waiting for the previous one to be durable
      await until(() => got.length === 5, 'all five handed over');
      await until(async () => (await log.ackedUpTo('sh-a', 'bj-a')) === 1, 'ack of 1');
      durable.get(3)!.ok(); // 3 durable before 2: nothing past 1 yet
      await systemClock.sleep(50);
      assert.equal(await log.ackedUpTo('sh-a', 'bj-a'), 1);
      durable.get(2)!.ok();
      await until(async () => (await log.ackedUpTo('sh-a', 'bj-a')) === 3, 'acks of 2 and 3, in order');
      // 4 never becomes durable (its commit was lost): 5, durable after it, is not acknowledged either
      durable.get(4)!.fail(new Error('lost in a crash'));
      durable.get(5)!.ok();
      await systemClock.sleep(50);
      assert.equal(await log.ackedUpTo('sh-a', 'bj-a'), 3);
      await sub.close();
      const again = await open(ns);
      const second: number[] = [];
      await again.subscribe('sh-a', 'bj-a', 0, async (b) => void second.push(b.to));
      await until(() => second.length === 2, 'batches 4 and 5 again');
      assert.deepEqual(second, [4, 5]);
    });

    test(`${name}: reports the position each destination has finished`, async () => {
      const log = await open();
      assert.equal(await log.ackedUpTo('gz-a', 'sh-a'), 0);
      const got: number[] = [];
      await log.subscribe('gz-a', 'sh-a', 0, async (b) => void got.push(b.to));
      await log.append(batch('gz-a', 1, 3));
      await log.append(batch('gz-a', 4, 9));
      await until(() => got.length === 2, 'two batches');
      await until(async () => (await log.ackedUpTo('gz-a', 'sh-a')) === 9, 'ack of 9');
      assert.equal(await log.ackedUpTo('gz-a', 'bj-a'), 0);
    });

    test(`${name}: a batch bigger than one message, and one near the limit, arrive intact and in order`, async () => {
      const log = await open();
      const got: LogBatch[] = [];
      await log.subscribe('sh-a', 'sh-b', 0, async (b) => void got.push(b));
      // 30 × 50 kB = 1.5 MB: over NATS's default 1 MB max_payload
      const big = batch('sh-a', 1, 30);
      big.changes = big.changes.map((c) => ({ ...c, value: { pad: 'p'.repeat(50_000), n: c.seq } }));
      // one change of ~1 MB less a little: just under the limit, it must travel alone and whole
      const near = batch('sh-a', 31, 31);
      near.changes[0] = { ...near.changes[0]!, value: 'n'.repeat(1_000_000) };
      await log.append(big);
      await log.append(near);
      await until(() => got.length > 0 && got[got.length - 1]!.to === 31, 'both batches');
      // whatever the split, the batches cover 1..31 without gap or overlap, every change once
      assert.equal(got[0]!.from, 1);
      for (let i = 1; i < got.length; i++) assert.equal(got[i]!.from, got[i - 1]!.to + 1);
      assert.deepEqual(
        got.flatMap((b) => b.changes),
        [...big.changes, ...near.changes],
      );
    });

    test(`${name}: afterSeq skips batches the destination already holds`, async () => {
      const log = await open();
      for (let s = 1; s <= 5; s++) await log.append(batch('sh-b', s * 2 - 1, s * 2));
      const got: number[] = [];
      await log.subscribe('sh-b', 'gz-a', 6, async (b) => void got.push(b.from));
      await until(() => got.length === 2, 'two batches');
      assert.deepEqual(got, [7, 9]);
    });
  });
}
