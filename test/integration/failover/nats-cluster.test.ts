// The shard map on NATS JetStream KV (distributed mode's control state) behind a running cluster.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { RunningCluster } from '../../../src/runtime/index.ts';
import { NatsKv, type ShardMap, shardForKey } from '../../../src/shardmap/index.ts';
import { NATS_URL, natsUp } from '../../support/nats.ts';
import { routerUrls, startRoutingCluster } from '../router/fixture.ts';

const URL = NATS_URL;
const BUCKET = `mz_cluster_${process.pid}_${Math.floor(Math.random() * 1e9)}`;

describe('failover: a cluster whose shard map lives in NATS JetStream KV', () => {
  let c: RunningCluster | undefined;
  before(async () => {
    if (!(await natsUp())) return;
    c = await startRoutingCluster(`
failover:
  after: 300
  leaseMs: 1500
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 50, timeoutMs: 200 }
  kv: { type: nats, url: ${URL}, bucket: ${BUCKET} }
`);
  });
  after(async () => {
    await c?.close();
    if (c) {
      const kv = await NatsKv.open({ url: URL, bucket: BUCKET });
      await kv.destroy().catch(() => {});
      await kv.close();
    }
  });

  it('failover(nats): routes by the map in the bucket, and a killed zone’s shards move there', async (t) => {
    if (!c) return t.skip('no NATS');
    const svc = c.services.shardmap;
    const urls = routerUrls(c);
    const raw = await NatsKv.open({ url: URL, bucket: BUCKET });
    try {
      assert.equal((await raw.keys('map.')).length, 65);
      let user = '';
      for (let i = 0; !user; i++) if (svc.map.owner(shardForKey(`n${i}`, 64)).zone === 'gz-a') user = `n${i}`;
      const r = await request(`${urls['sh-a']}/api/profiles/x`, { method: 'POST', headers: { 'x-user-id': user } });
      await r.body.dump();
      assert.equal(r.headers['x-multizone-served-by'], 'gz-a');
      await c.services.zones.get('gz-a')!.switch!.kill();
      let moved = false;
      for (let i = 0; i < 200 && !moved; i++) {
        await new Promise((res) => setTimeout(res, 50));
        moved = svc.map.shardsOf('gz-a').length === 0;
      }
      assert.ok(moved, 'gz-a still owns shards');
      const e = await raw.get(`map.${shardForKey(user, 64)}`);
      const v = JSON.parse(e!.value!) as { zone: string; epoch: number };
      assert.equal(v.epoch, 2);
      assert.notEqual(v.zone, 'gz-a');
      // every router's view follows the bucket
      for (const zone of ['sh-a', 'sh-b', 'bj-a']) {
        const view: ShardMap = c.services.zones.get(zone)!.view!.view;
        for (let i = 0; i < 100 && view.owner(shardForKey(user, 64)).epoch !== 2; i++)
          await new Promise((res) => setTimeout(res, 20));
        assert.equal(view.owner(shardForKey(user, 64)).zone, v.zone, zone);
      }
    } finally {
      await raw.close();
    }
  });
});
