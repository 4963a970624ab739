import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { AuditEntry, FailoverController } from '../../../src/failover/index.ts';
import type { RunningCluster } from '../../../src/runtime/index.ts';
import { GLOBAL, type ShardMap, shardForKey } from '../../../src/shardmap/index.ts';
import { routerUrls, startRoutingCluster } from '../router/fixture.ts';

const FAST = `
failover:
  after: 300
  leaseMs: 1500
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 50, timeoutMs: 100 }
  plannedTimeoutMs: 1500
`;

/** Polls cond every 50 ms, at most n times; returns whether it became true. */
async function until(cond: () => boolean | Promise<boolean>, n = 200): Promise<boolean> {
  for (let i = 0; i < n; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe('failover: controller, planned failover and failback in a running cluster', () => {
  let c: RunningCluster;
  let svc: { map: ShardMap; controller: FailoverController };
  let urls: Record<string, string>;
  let control: string;
  const lag = new Map<string, number>();

  before(async () => {
    c = await startRoutingCluster(FAST);
    svc = { map: c.services.shardmap.map, controller: c.services.failover.controller };
    urls = routerUrls(c);
    control = `http://${c.control.host}:${c.control.port}`;
    // a hook whose method needs its `this` (as the replication plane's does)
    // the failover stage reads the data stage's replication at call time: swap in the hook
    (c.services.data as { replication: unknown }).replication = new (class {
      lags = lag;
      lagFor(z: string) {
        if (this.lags.get(z) === -1) throw new Error('replication is broken');
        return this.lags.get(z) ?? 0;
      }
    })();
  });
  after(async () => {
    await c.close();
  });

  const post = async (path: string, body?: unknown) => {
    const r = await request(`${control}${path}`, { method: 'POST', body: body ? JSON.stringify(body) : undefined });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };
  const write = async (zone: string, user: string) => {
    const r = await request(`${urls[zone]}/api/profiles/x`, { method: 'POST', headers: { 'x-user-id': user } });
    const j = (await r.body.json()) as Record<string, unknown>;
    return { status: r.statusCode, servedBy: r.headers['x-multizone-served-by'], json: j };
  };
  const userOf = (zone: string) => {
    for (let i = 0; i < 10_000; i++) if (svc.map.owner(shardForKey(`u${i}`, 64)).zone === zone) return `u${i}`;
    throw new Error(`no user for ${zone}`);
  };

  it('failover: a killed zone’s shards move to its backups with epoch+1, fenced until its lease is over', async () => {
    const user = userOf('bj-a');
    const shard = shardForKey(user, 64);
    assert.equal((await write('gz-a', user)).servedBy, 'bj-a');
    const kill = await post('/api/drill/kill?zone=bj-a');
    assert.equal(kill.status, 200);
    assert.ok(await until(() => svc.map.shardsOf('bj-a').length === 0), 'bj-a still owns shards');
    const o = svc.map.entry(shard);
    assert.equal(o.epoch, 2);
    assert.ok(['sh-a', 'sh-b', 'gz-a'].includes(o.zone));
    // fenced: the new owner refuses writes until the dead zone's lease is surely over
    const early = await write('gz-a', user);
    if (Date.now() < o.notBefore - 50) {
      assert.equal(early.status, 503);
      assert.equal(early.json.error, 'ERR_ROUTER_FENCED');
    }
    assert.ok(await until(async () => (await write('gz-a', user)).status === 200), 'writes never resumed');
    const later = await write('sh-b', user);
    assert.equal(later.servedBy, o.zone);
    assert.equal(later.json.epoch, '2');
    // steering stops sending users there (no health plane in this cluster)
    assert.equal(c.services.state.isUp('bj-a/router'), false);
    const audit = (await (await request(`${control}/api/audit`)).body.json()) as { entries: AuditEntry[] };
    const moves = audit.entries.filter((e) => e.action === 'move' && e.from === 'bj-a');
    assert.equal(
      moves.reduce((a, e) => a + (e.shards?.length ?? 0), 0),
      16,
    );
    assert.ok(moves.every((e) => (e.notBefore ?? 0) > 0));
  });

  it('failover: failback brings the zone’s home shards back (planned, epoch+1) once it is up', async () => {
    const r = await post('/api/drill/restore', { zone: 'bj-a' });
    assert.equal(r.status, 200);
    assert.ok(await until(() => svc.controller.states()['bj-a']?.state === 'recovered'), 'bj-a not seen up again');
    const fb = await post('/api/failback', { zone: 'bj-a' });
    assert.equal(fb.status, 200, JSON.stringify(fb.json));
    assert.equal(fb.json.moved, 16);
    assert.equal(svc.map.shardsOf('bj-a').length, 16);
    const user = userOf('bj-a');
    const w = await write('sh-a', user);
    assert.equal(w.servedBy, 'bj-a');
    assert.equal(w.json.epoch, '3');
    assert.equal(c.services.state.isUp('bj-a/router'), true);
  });

  it('failover: planned failover of the core zone waits for replication lag 0, then moves shards and the global role', async () => {
    lag.set('sh-a', 5);
    const pending = post('/api/failover', { zone: 'sh-a' });
    const user = userOf('sh-a');
    // while draining, writes to sh-a's shards are refused everywhere
    assert.ok(await until(() => svc.map.entry(shardForKey(user, 64)).draining), 'never drained');
    const during = await write('sh-a', user);
    assert.equal(during.status, 503);
    assert.equal(during.json.error, 'ERR_ROUTER_FENCED');
    assert.equal(svc.map.shardsOf('sh-a').length > 0, true, 'moved before lag reached 0');
    lag.set('sh-a', 0);
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(svc.map.shardsOf('sh-a').length, 0);
    assert.equal(svc.map.owner(GLOBAL).zone, 'sh-b'); // same region first
    const acct = await request(`${urls['gz-a']}/api/accounts`, { method: 'POST', headers: { 'x-user-id': 'x' } });
    await acct.body.dump();
    assert.equal(acct.headers['x-multizone-served-by'], 'sh-b');
    const after = await write('gz-a', user);
    assert.equal(after.status, 200);
    assert.equal(after.servedBy, 'sh-b');
  });

  it('failover: a planned failover whose lag never clears times out, undoes the drain, and moves nothing', async () => {
    lag.set('gz-a', 1);
    const before = svc.map.shardsOf('gz-a').length;
    const r = await post('/api/failover', { zone: 'gz-a' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'ERR_FAILOVER_LAG_TIMEOUT');
    assert.equal(svc.map.shardsOf('gz-a').length, before);
    assert.ok(svc.map.shardsOf('gz-a').every((s) => !svc.map.entry(s).draining));
    lag.set('gz-a', 0);
  });

  it('failover: a lag hook that throws undoes the drain', async () => {
    lag.set('gz-a', -1);
    const before = svc.map.shardsOf('gz-a').length;
    const r = await post('/api/failover', { zone: 'gz-a' });
    assert.equal(r.status, 500);
    assert.equal(svc.map.shardsOf('gz-a').length, before);
    assert.ok(svc.map.shardsOf('gz-a').every((s) => !svc.map.entry(s).draining));
    lag.set('gz-a', 0);
  });

  it('failover: bad requests name their code', async () => {
    assert.equal((await post('/api/failover', { zone: 'mars' })).json.error, 'ERR_FAILOVER_UNKNOWN_ZONE');
    assert.equal((await post('/api/failover')).json.error, 'ERR_CONTROL_BAD_REQUEST');
    assert.equal((await post('/api/drill/kill?zone=sh-b&mode=nuke')).json.error, 'ERR_CONTROL_BAD_REQUEST');
  });
});
