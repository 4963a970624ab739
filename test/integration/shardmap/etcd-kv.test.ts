import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtcdKv } from '../../../src/shardmap/index.ts';
import { type EtcdCluster, startEtcd } from '../../support/etcd.ts';
import { kvContract } from './kv.contract.ts';

let single: EtcdCluster | null | undefined;

kvContract('etcd', async () => {
  single ??= await startEtcd(1);
  if (!single) return null;
  const kv = await EtcdKv.open({
    url: single.url,
    bucket: `mz_test_${process.pid}_${Math.floor(Math.random() * 1e9)}`,
  });
  return {
    kv,
    cleanup: async () => {
      await kv.destroy().catch(() => {});
      await kv.close();
    },
  };
});

test.after(async () => {
  await single?.stop();
});

async function until(cond: () => boolean, what: () => string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), what());
}

test('etcd kv: the member in use is killed: calls and watches move to another member, missing nothing', async (t) => {
  const cluster = await startEtcd(3);
  if (!cluster) return t.skip('etcd is not installed');
  const kv = await EtcdKv.open({ url: cluster.url, bucket: `mz_test_failover_${process.pid}`, timeoutMs: 1000 });
  try {
    const seen: string[] = [];
    const w = await kv.watch('lease.', (e) => seen.push(`${e.key}=${e.value}`));
    await kv.put('lease.a', '1');
    await until(
      () => seen.includes('lease.a=1'),
      () => seen.join(' '),
    );
    // the adapter starts on the first member: kill it
    cluster.members[0]!.kill();
    // writes are not retried by the adapter (one may have applied): the caller tries again, as
    // the lease keeper does on its next renewal
    const putSoon = async (key: string, value: string) => {
      for (let i = 0; ; i++) {
        try {
          return await kv.put(key, value);
        } catch (e) {
          if (i >= 10) throw e;
        }
      }
    };
    await putSoon('lease.b', '2');
    await putSoon('lease.a', '3');
    await until(
      () => seen.includes('lease.b=2') && seen.includes('lease.a=3'),
      () => `watch after the kill saw: ${seen.join(' ')}`,
    );
    assert.deepEqual(
      seen.filter((s) => s.startsWith('lease.a')),
      ['lease.a=1', 'lease.a=3'],
      'in order, each once',
    );
    assert.equal((await kv.get('lease.a'))?.value, '3');
    assert.ok(kv.restarts >= 1, 'the watch was restarted by the adapter');
    w.stop();
  } finally {
    await kv.close();
    await cluster.stop();
  }
});

test('etcd kv: no member reachable → ERR_FAILOVER_KV_UNAVAILABLE naming the URL; a bad URL is refused', async () => {
  await assert.rejects(
    EtcdKv.open({ url: 'http://127.0.0.1:1', bucket: 'x', timeoutMs: 500 }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_FAILOVER_KV_UNAVAILABLE');
      assert.match(e.message, /127\.0\.0\.1:1/);
      return true;
    },
  );
  await assert.rejects(EtcdKv.open({ url: 'etcd:2379', bucket: 'x' }), /not http:\/\/host:port/);
});
