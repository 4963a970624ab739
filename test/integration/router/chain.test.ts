import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { systemClock } from '../../../src/core/clock.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { createRouter, type ZoneRouter } from '../../../src/router/index.ts';
import { shardForKey } from '../../../src/shardmap/index.ts';
import type { HostPort } from '../../../src/topology/index.ts';
import { RequestSigner } from '../../../src/trust/index.ts';
import { testTopology } from '../../support/net.ts';
import { SettableMap } from '../../support/router-stage.ts';
import { ROUTING_YAML } from './fixture.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a'] as const;

describe('router: forwarding, epochs, hops, second read and the write fence', () => {
  const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML });
  const apps: Server[] = [];
  const appAddr = new Map<string, HostPort>();
  const routerAddr = new Map<string, HostPort>();
  const routers = new Map<string, ZoneRouter>();
  const maps = new Map<string, SettableMap>();
  const signer = new RequestSigner({ secret: Buffer.alloc(32, 1), zone: 'cluster', clock: systemClock });

  before(async () => {
    for (const zone of ZONES) {
      // sh-a's app has not received the replicated profile yet: it answers 404
      const app = createServer((req, res) => {
        req.resume();
        const status = zone === 'sh-a' && req.method === 'GET' && req.url?.startsWith('/api/profiles') ? 404 : 200;
        res.writeHead(status, { 'x-multizone-served-by': zone, 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ zone, epoch: req.headers['x-multizone-epoch'], shard: req.headers['x-multizone-shard'] }),
        );
      });
      apps.push(app);
      appAddr.set(zone, await listenOn(app, '127.0.0.1', 0, 'app'));
      const map = new SettableMap(zone);
      maps.set(zone, map);
      const r = createRouter(
        {
          topology,
          zone,
          map,
          signer: signer.as(zone),
          resolve: (n) => (n === 'app' ? appAddr.get(zone) : routerAddr.get(n)),
        },
        { ...topology.config.router, epochWaitMs: 2000 },
      );
      routers.set(zone, r);
      routerAddr.set(zone, await r.listen('127.0.0.1', 0));
    }
  });
  after(async () => {
    for (const r of routers.values()) await r.close();
    for (const a of apps) await closeServer(a);
  });

  const url = (zone: string, path: string) => `http://127.0.0.1:${routerAddr.get(zone)!.port}${path}`;
  async function call(zone: string, path: string, method = 'GET', headers: Record<string, string> = {}) {
    const r = await request(url(zone, path), { method: method as 'GET', headers });
    const j = (await r.body.json()) as Record<string, unknown>;
    return { status: r.statusCode, headers: r.headers, json: j };
  }

  it('router: second read — a local 404 on a replica read is retried once at the owner and marked', async () => {
    for (const m of maps.values()) m.set(7, 'sh-b', 1);
    const r = await call('sh-a', '/api/orders/1', 'GET', { 'x-order-id': 'o7-a' });
    assert.equal(r.headers['x-multizone-served-by'], 'sh-b'); // orders are `seconds` fresh: read at the owner
    const shard = shardForKey('k7', 64);
    for (const m of maps.values()) m.set(shard, 'bj-a', 1);
    const p = await call('sh-a', '/api/profiles/1', 'GET', { 'x-user-id': 'k7' });
    assert.equal(p.status, 200);
    assert.equal(p.headers['x-multizone-second-read'], 'bj-a');
    assert.equal(p.headers['x-multizone-served-by'], 'bj-a');
    // a write is never a second read: it goes to the owner directly
    const w = await call('sh-a', '/api/profiles/1', 'POST', { 'x-user-id': 'k7' });
    assert.equal(w.headers['x-multizone-served-by'], 'bj-a');
    assert.equal(w.headers['x-multizone-second-read'], undefined);
  });

  it('router: no second read when the local zone owns the shard (the 404 stands)', async () => {
    const shard = shardForKey('k7', 64);
    for (const m of maps.values()) m.set(shard, 'sh-a', 1);
    const r = await call('sh-a', '/api/profiles/1', 'GET', { 'x-user-id': 'k7' });
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-multizone-second-read'], undefined);
  });

  it('router: a request from a router with a stale epoch is re-routed by the newer epoch', async () => {
    maps.get('sh-a')!.set(20, 'sh-b', 1); // stale
    maps.get('sh-b')!.set(20, 'bj-a', 2);
    maps.get('bj-a')!.set(20, 'bj-a', 2);
    const r = await call('sh-a', '/api/orders/1', 'POST', { 'x-order-id': 'o20-x' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-multizone-served-by'], 'bj-a');
    assert.equal(r.json.epoch, '2');
  });

  it('router: a router behind the sender waits for its map to reach the sender’s epoch', async () => {
    maps.get('sh-a')!.set(21, 'sh-b', 3); // new
    maps.get('sh-b')!.set(21, 'bj-a', 2); // behind: would send it on to bj-a
    maps.get('bj-a')!.set(21, 'bj-a', 2);
    const pending = call('sh-a', '/api/orders/1', 'POST', { 'x-order-id': 'o21-x' });
    setTimeout(() => maps.get('sh-b')!.set(21, 'sh-b', 3), 30);
    const r = await pending;
    assert.equal(r.headers['x-multizone-served-by'], 'sh-b');
    assert.equal(r.json.epoch, '3');
  });

  it('router: views that disagree in a loop stop after 2 hops with 421 and a JSON reason', async () => {
    maps.get('sh-a')!.set(30, 'sh-b', 1);
    maps.get('sh-b')!.set(30, 'bj-a', 1);
    maps.get('bj-a')!.set(30, 'sh-a', 1);
    const r = await call('sh-a', '/api/orders/1', 'POST', { 'x-order-id': 'o30-x' });
    assert.equal(r.status, 421);
    assert.equal(r.json.error, 'ERR_ROUTER_TOO_MANY_HOPS');
    assert.equal(r.json.zone, 'bj-a');
    assert.equal(r.json.hops, 2);
  });

  it('router: the write fence refuses a write the map does not allow here (503), reads still pass', async () => {
    for (const m of maps.values()) m.set(40, 'sh-b', 1);
    maps.get('sh-b')!.writable = false;
    try {
      const w = await call('sh-a', '/api/orders/1', 'POST', { 'x-order-id': 'o40-x' });
      assert.equal(w.status, 503);
      assert.equal(w.json.error, 'ERR_ROUTER_FENCED');
      assert.equal(w.headers['retry-after'], '1');
      const rd = await call('sh-a', '/api/orders/1', 'GET', { 'x-order-id': 'o40-x' });
      assert.equal(rd.status, 200);
    } finally {
      maps.get('sh-b')!.writable = true;
    }
  });

  it('router: an unreachable owner gives 502 ERR_ROUTER_UPSTREAM', async () => {
    for (const m of maps.values()) m.set(50, 'gz-a', 1); // gz-a has no router running here
    const r = await call('sh-a', '/api/orders/1', 'POST', { 'x-order-id': 'o50-x' });
    assert.equal(r.status, 502);
    assert.equal(r.json.error, 'ERR_ROUTER_UPSTREAM');
  });
});
