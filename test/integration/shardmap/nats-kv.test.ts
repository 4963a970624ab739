import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { NatsKv } from '../../../src/shardmap/index.ts';
import { kvContract } from './kv.contract.ts';

const URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

kvContract('nats', async () => {
  try {
    const nc = await connect({ servers: URL.replace('nats://', ''), timeout: 1500 });
    await nc.close();
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`NATS at ${URL} is unreachable and CI=true: ${String(e)}`);
    console.log(`# skipping the NATS Kv contract: no NATS JetStream at ${URL} (set NATS_URL)`);
    return null;
  }
  const bucket = `mz_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const kv = await NatsKv.open({ url: URL, bucket });
  return {
    kv,
    cleanup: async () => {
      await kv.destroy().catch(() => {});
      await kv.close();
    },
  };
});

test('nats kv: a watch whose consumer the server dropped is restarted from the next revision, missing nothing', async (t) => {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: URL.replace('nats://', ''), timeout: 1500 });
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`NATS at ${URL} is unreachable and CI=true: ${String(e)}`);
    return t.skip(`no NATS JetStream at ${URL}`);
  }
  const bucket = `mz_test_watch_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const kv = await NatsKv.open({ url: URL, bucket });
  try {
    const seen: string[] = [];
    const w = await kv.watch('lease.', (e) => seen.push(`${e.key}=${e.value}`));
    await kv.put('lease.a', '1');
    const deadline = Date.now() + 20_000;
    while (!seen.includes('lease.a=1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(seen.includes('lease.a=1'), seen.join(' '));
    // the server loses the watch's consumer (as when the server it sat on is cut off)
    const jsm = await nc.jetstreamManager();
    for await (const c of jsm.consumers.list(`KV_${bucket}`)) await jsm.consumers.delete(`KV_${bucket}`, c.name);
    await kv.put('lease.b', '2');
    await kv.put('lease.a', '3');
    while (!seen.includes('lease.a=3') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      // keep our puts coming, as a lease keeper does, so the stall shows
      if (!seen.includes('lease.a=3')) await kv.put('lease.c', String(Date.now()));
    }
    assert.ok(seen.includes('lease.b=2') && seen.includes('lease.a=3'), seen.join(' '));
    assert.ok(kv.restarts >= 1, 'restarted by the adapter, not by luck');
    w.stop();
  } finally {
    await kv.destroy().catch(() => {});
    await kv.close();
    await nc.close();
  }
});
