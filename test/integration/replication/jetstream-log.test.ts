import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { JetStreamLog, type LogBatch } from '../../../src/replication/index.ts';
import type { Change } from '../../../src/store/index.ts';
import { natsUrl, reachable } from '../store/services.ts';
import { logContract } from './log.contract.ts';

logContract('jetstream', async () => {
  if (!(await reachable('nats'))) return undefined;
  const run = `MZT${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
  const opened: { log: JetStreamLog; ns: string }[] = [];
  return {
    open: async (ns) => {
      const log = await JetStreamLog.connect({
        servers: natsUrl(),
        prefix: `${run}${ns}`,
        clock: systemClock,
        storage: 'memory',
      });
      opened.push({ log, ns });
      return log;
    },
    cleanup: async () => {
      for (const ns of new Set(opened.map((o) => o.ns))) {
        const l = await JetStreamLog.connect({ servers: natsUrl(), prefix: `${run}${ns}`, clock: systemClock });
        await l.deleteStreams(['sh-a', 'sh-b', 'bj-a', 'gz-a']);
        await l.close();
      }
    },
  };
});

test('jetstream: the destinations of one process share one decoded batch; a stream made again is decoded afresh', async (t) => {
  if (!(await reachable('nats'))) return t.skip('no NATS');
  const prefix = `MZD${Math.floor(Math.random() * 1e9)
    .toString(36)
    .toUpperCase()}`;
  const log = await JetStreamLog.connect({ servers: natsUrl(), prefix, clock: systemClock, storage: 'memory' });
  const change = (seq: number, value: unknown): Change => ({
    seq,
    origin: 'sh-a',
    shard: 1,
    epoch: 1,
    cls: 'sharded',
    resource: 'profiles',
    key: `k${seq}`,
    value,
    deleted: false,
    vv: { 'sh-a': seq },
    version: seq,
    time: 1,
  });
  const receive = async (dests: string[]) => {
    const got = new Map<string, LogBatch>();
    const subs = await Promise.all(
      dests.map((d) =>
        log.subscribe('sh-a', d, 0, async (b) => {
          got.set(d, b);
        }),
      ),
    );
    return {
      got,
      close: async () => {
        for (const s of subs) await s.close();
      },
    };
  };
  try {
    const first = await receive(['sh-b', 'bj-a']);
    await log.append({ origin: 'sh-a', from: 1, to: 1, changes: [change(1, 'old')], sentAt: 1 });
    for (let i = 0; i < 200 && first.got.size < 2; i++) await systemClock.sleep(10);
    assert.equal(first.got.size, 2);
    assert.equal(first.got.get('sh-b'), first.got.get('bj-a'), 'one decoded batch for both destinations');
    await first.close();
    // the same stream name and sequence again, other content: never the cached batch
    await log.deleteStreams(['sh-a']);
    const again = await receive(['gz-a']);
    await log.append({ origin: 'sh-a', from: 1, to: 1, changes: [change(1, 'new')], sentAt: 2 });
    for (let i = 0; i < 200 && again.got.size < 1; i++) await systemClock.sleep(10);
    assert.equal(again.got.get('gz-a')?.changes[0]?.value, 'new');
    await again.close();
  } finally {
    await log.deleteStreams(['sh-a']);
    await log.close();
  }
});
