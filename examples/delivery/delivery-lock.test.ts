/**
 * The delivery service on two zones' real databases with real table replication (every zone
 * may write every shard, as both do for a moment when a shard moves in `available` mode):
 * the same order moved concurrently in both zones is locked by the `lock` policy, and the
 * service refuses further transitions with 409 ERR_DELIVERY_ORDER_LOCKED. The service is
 * called directly with requests signed as its zone's router would sign them; the other
 * answers (401, 400, 421, 428, 409 stale/illegal) are checked on the same service.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import {
  pgAvailable,
  type TablesCluster,
  tablesCluster,
  until,
} from '../../test/integration/replication/tables-support.ts';
import { freePort } from '../../test/support/net.ts';
import { kill, redisAvailable, signedHeaders, startService } from './delivery-support.ts';
import { DELIVERY_DDL } from './schema.ts';

const KEY = Buffer.from('6b'.repeat(32), 'hex');
const pgUp = await pgAvailable();
const redisUp = await redisAvailable();

describe('delivery: orders on table replication', { skip: !pgUp ? 'no PostgreSQL' : !redisUp && 'no Redis' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-delivery-lock-'));
  let c: TablesCluster;
  let svc: ChildProcess | undefined;
  let port = 0;
  before(async () => {
    writeFileSync(join(dir, 'app-key'), `${KEY.toString('hex')}\n`, { mode: 0o600 });
    c = await tablesCluster({
      zones: ['sh-a', 'bj-a'],
      ddl: DELIVERY_DDL,
      tables: [{ name: 'orders', class: 'sharded', conflict: 'lock' }],
    });
    port = await freePort();
    svc = await startService(
      {
        DELIVERY_ZONE: 'sh-a',
        DELIVERY_KEY_FILE: join(dir, 'app-key'),
        DELIVERY_PG: c.url('sh-a'),
        DELIVERY_ROUTER: 'http://127.0.0.1:9', // no quota calls in this test
        DELIVERY_REDIS_PREFIX: `mzdeliv-lock-${process.pid}`,
      },
      port,
    );
  });
  after(async () => {
    await kill(svc);
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A request to the service as sh-a's router would send it for `shard` 7 at epoch 3. */
  const call = async (
    method: string,
    target: string,
    o: { body?: string; ifMatch?: string; mz?: Record<string, string> } = {},
  ) => {
    const mz = o.mz ?? {
      zone: 'sh-a',
      shard: '7',
      epoch: '3',
      owner: 'sh-a',
      global: 'sh-a',
      'global-epoch': '1',
      hop: '0',
    };
    const headers = {
      ...signedHeaders(KEY, { method, target, zone: 'sh-a', ...(o.body ? { body: o.body } : {}), mz }),
      ...(o.ifMatch ? { 'if-match': o.ifMatch } : {}),
    };
    const r = await request(`http://127.0.0.1:${port}${target}`, {
      method: method as 'GET',
      headers,
      ...(o.body ? { body: o.body } : {}),
    });
    const text = await r.body.text();
    return { status: r.statusCode, body: JSON.parse(text) as Record<string, unknown> & { code?: string } };
  };
  const insertOrder = (id: string) =>
    c.db('sh-a').query(
      `INSERT INTO orders (id, shard, epoch, zone, user_id, restaurant, dish, qty, lease, state, version, updated_at)
         VALUES ($1, 7, 3, 'sh-a', 'u1', 'r1', 'noodles', 1, 'sh-a.l1', 'placed', 1, 0)`,
      [id],
    );

  it('delivery orders: transitions are conditional on the version; bad requests get a clear 4xx code', async () => {
    const id = 'o7-00000000000000aa';
    await insertOrder(id);
    assert.equal((await call('POST', `/api/orders/${id}/accept`)).body.code, 'ERR_DELIVERY_VERSION_REQUIRED');
    const ok = await call('POST', `/api/orders/${id}/accept`, { ifMatch: '1' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.state, 'accepted');
    assert.equal(ok.body.version, 2);
    const stale = await call('POST', `/api/orders/${id}/pickup`, { ifMatch: '1' });
    assert.deepEqual([stale.status, stale.body.code, stale.body.version], [409, 'ERR_DELIVERY_STALE_VERSION', 2]);
    const illegal = await call('POST', `/api/orders/${id}/deliver`, { ifMatch: '2' });
    assert.deepEqual(
      [illegal.status, illegal.body.code, illegal.body.state],
      [409, 'ERR_DELIVERY_ILLEGAL_TRANSITION', 'accepted'],
    );
    assert.equal(
      (await call('POST', `/api/orders/${id}/teleport`, { ifMatch: '2' })).body.code,
      'ERR_DELIVERY_NO_ROUTE',
    );
    assert.equal(
      (await call('POST', '/api/orders/o7-nothex/accept', { ifMatch: '2' })).body.code,
      'ERR_DELIVERY_BAD_ORDER_ID',
    );
    assert.equal((await call('POST', '/api/orders/o7-00000000000000ff/accept', { ifMatch: '1' })).status, 404);
    // routed by an older epoch than the order was written at: "not mine" for the router to look again
    const old = await call('POST', `/api/orders/${id}/pickup`, {
      ifMatch: '2',
      mz: { zone: 'sh-a', shard: '7', epoch: '2', owner: 'sh-a', hop: '0' },
    });
    assert.deepEqual([old.status, old.body.code], [421, 'ERR_DELIVERY_STALE_EPOCH']);
    const notMine = await call('POST', `/api/orders/${id}/pickup`, {
      ifMatch: '2',
      mz: { zone: 'sh-a', shard: '7', epoch: '3', owner: 'bj-a', hop: '0' },
    });
    assert.deepEqual([notMine.status, notMine.body.code], [421, 'ERR_DELIVERY_NOT_MINE']);
    // placing: no fence (no shard), a bad body
    const noFence = await call('POST', '/api/orders', { body: '{}', mz: { zone: 'sh-a', hop: '0' } });
    assert.deepEqual([noFence.status, noFence.body.code], [400, 'ERR_DELIVERY_OUTSIDE_FENCE']);
    const bad = await call('POST', '/api/orders', { body: '{"user":"u1","restaurant":"r1","dish":"x","qty":0}' });
    assert.deepEqual([bad.status, bad.body.code], [400, 'ERR_DELIVERY_BAD_ORDER']);
    const notJson = await call('POST', '/api/orders', { body: 'not json' });
    assert.deepEqual([notJson.status, notJson.body.code], [400, 'ERR_DELIVERY_BAD_ORDER']);
    // unsigned, or signed with another key: 401
    const r = await request(`http://127.0.0.1:${port}/api/orders/${id}`);
    assert.equal(r.statusCode, 401);
    assert.equal(((await r.body.json()) as { code: string }).code, 'ERR_DELIVERY_BAD_SIGNATURE');
  });

  it('delivery orders: an order moved in two zones at once is locked by table replication; the service refuses with 409 ERR_DELIVERY_ORDER_LOCKED', async () => {
    const id = 'o7-00000000000000bb';
    await insertOrder(id);
    await until(
      async () => (await c.db('bj-a').query('SELECT 1 FROM orders WHERE id = $1', [id])).rowCount === 1,
      20_000,
      'the order in bj-a',
    );
    // both zones move the order while neither has the other's change: replication is held
    // still for the two commits, so they are concurrent whatever the machine's speed
    await c.tr.stop();
    await c.db('sh-a').query(`UPDATE orders SET state = 'accepted', version = 2 WHERE id = $1`, [id]);
    await c.db('bj-a').query(`UPDATE orders SET state = 'cancelled', version = 2 WHERE id = $1`, [id]);
    await c.restart();
    await until(
      async () => (await c.db('sh-a').query('SELECT 1 FROM multizone.table_locks')).rowCount! > 0,
      20_000,
      'the lock in sh-a',
    );
    const r = await call('POST', `/api/orders/${id}/pickup`, { ifMatch: '2' });
    assert.deepEqual([r.status, r.body.code, r.body.id], [409, 'ERR_DELIVERY_ORDER_LOCKED', id]);
    // the other order, not locked, still moves
    const other = await call('POST', '/api/orders/o7-00000000000000aa/pickup', { ifMatch: '2' });
    assert.equal(other.status, 200, JSON.stringify(other.body));
  });
});
