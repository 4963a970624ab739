import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { systemClock } from '../../../src/core/clock.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { createRouter, type ZoneRouter } from '../../../src/router/index.ts';
import { GLOBAL, shardForKey } from '../../../src/shardmap/index.ts';
import type { HostPort } from '../../../src/topology/index.ts';
import { RequestSigner } from '../../../src/trust/index.ts';
import { testTopology } from '../../support/net.ts';
import { SettableMap } from '../../support/router-stage.ts';
import { ROUTING_YAML } from './fixture.ts';

/**
 * The verification recipe of docs/app-contract.md, written out independently of src/trust:
 * HMAC-SHA256 over "MZ-AUTH-1", method, target, zone, timestamp, nonce, the sorted
 * x-multizone-* headers (without the signature) and the body's SHA-256, one per line.
 */
function verify(key: Buffer, method: string, target: string, h: IncomingHttpHeaders, body: Buffer): string | null {
  const m = /^v1 z=(\S+) t=(\d+) n=([0-9a-f]{32}) s=([0-9a-f]{64})$/.exec(String(h['x-multizone-auth'] ?? ''));
  if (!m) return null;
  const [, zone, t, n, s] = m as unknown as string[];
  const lines = Object.keys(h)
    .filter((k) => k.startsWith('x-multizone-') && k !== 'x-multizone-auth')
    .sort()
    .map((k) => `${k}:${h[k]}\n`)
    .join('');
  const mac = createHmac('sha256', key)
    .update(`MZ-AUTH-1\n${method}\n${target}\n${zone}\n${t}\n${n}\n${lines}`)
    .update(createHash('sha256').update(body).digest('hex'))
    .digest();
  return timingSafeEqual(mac, Buffer.from(s!, 'hex')) ? zone! : null;
}

const ZONES = ['sh-a', 'sh-b'] as const;
const APP_KEY = Buffer.alloc(32, 7);

interface Seen {
  zone: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  signedBy: string | null;
}

describe('router: an external app behind the router (headers, signature, 421, 409, health)', () => {
  const topology = testTopology({ roles: ['app', 'router'], extra: ROUTING_YAML });
  const map = new SettableMap();
  const apps: Server[] = [];
  const appAddr = new Map<string, HostPort>();
  const routerAddr = new Map<string, HostPort>();
  const routers = new Map<string, ZoneRouter>();
  const seen: Seen[] = [];
  const appUp = new Map<string, boolean>(ZONES.map((z) => [z, true]));
  /** Per zone: how the app answers a path (default 200 with what it saw). */
  const behaviour = new Map<string, (s: Seen) => { status: number; headers?: Record<string, string> }>();
  const cluster = new RequestSigner({ secret: Buffer.alloc(32, 1), zone: 'cluster', clock: systemClock });

  before(async () => {
    map.set(GLOBAL, 'sh-a', 4);
    for (const zone of ZONES) {
      const app = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          const s: Seen = {
            zone,
            method: req.method!,
            url: req.url!,
            headers: req.headers,
            body: body.toString(),
            signedBy: verify(APP_KEY, req.method!, req.url!, req.headers, body),
          };
          seen.push(s);
          const b = behaviour.get(`${zone} ${req.url}`)?.(s) ?? { status: 200 };
          res.writeHead(b.status, { 'content-type': 'application/json', ...b.headers });
          res.end(JSON.stringify({ zone, status: b.status }));
        });
      });
      apps.push(app);
      appAddr.set(zone, await listenOn(app, '127.0.0.1', 0, 'app'));
      const r = createRouter(
        {
          topology,
          zone,
          map,
          signer: cluster.as(zone),
          resolve: (n) => (n === 'app' ? appAddr.get(zone) : routerAddr.get(n)),
          app: {
            signer: new RequestSigner({ secret: APP_KEY, zone, clock: systemClock }),
            up: () => appUp.get(zone)!,
          },
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

  async function call(zone: string, path: string, method = 'GET', headers: Record<string, string> = {}, body?: string) {
    const r = await request(`http://127.0.0.1:${routerAddr.get(zone)!.port}${path}`, {
      method: method as 'GET',
      headers,
      body: body ?? null,
    });
    const json = (await r.body.json()) as Record<string, unknown>;
    return { status: r.statusCode, headers: r.headers, json };
  }
  const last = () => seen.at(-1)!;

  it('router: the owner zone’s app gets zone, shard, epoch, owner, global writer, hop, signed with the app key', async () => {
    const shard = shardForKey('u1', 64);
    map.set(shard, 'sh-a', 3);
    const r = await call(
      'sh-a',
      '/api/profiles/u1?x=1',
      'POST',
      { 'x-user-id': 'u1', 'x-multizone-zone': 'evil' },
      '{"n":1}',
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-multizone-served-by'], 'sh-a');
    const s = last();
    assert.equal(s.zone, 'sh-a');
    assert.equal(s.signedBy, 'sh-a');
    assert.equal(s.body, '{"n":1}');
    assert.equal(s.headers['x-multizone-zone'], 'sh-a');
    assert.equal(s.headers['x-multizone-shard'], String(shard));
    assert.equal(s.headers['x-multizone-epoch'], '3');
    assert.equal(s.headers['x-multizone-owner'], 'sh-a');
    assert.equal(s.headers['x-multizone-global'], 'sh-a');
    assert.equal(s.headers['x-multizone-global-epoch'], '4');
    assert.equal(s.headers['x-multizone-hop'], '0');
    assert.equal(s.headers['x-multizone-from'], undefined);
    // only the app's key verifies it (the cluster secret or another key does not)
    assert.equal(verify(Buffer.alloc(32, 1), s.method, s.url, s.headers, Buffer.from(s.body)), null);
    assert.equal(
      verify(APP_KEY, s.method, s.url, { ...s.headers, 'x-multizone-epoch': '9' }, Buffer.from(s.body)),
      null,
    );
  });

  it('router: a request entering another zone is forwarded and reaches the owner’s app with from and hop 1', async () => {
    const shard = shardForKey('u2', 64);
    map.set(shard, 'sh-b', 2);
    const r = await call('sh-a', '/api/profiles/u2', 'PUT', { 'x-user-id': 'u2' }, 'body-2');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-multizone-served-by'], 'sh-b');
    const s = last();
    assert.equal(s.zone, 'sh-b');
    assert.equal(s.signedBy, 'sh-b');
    assert.equal(s.headers['x-multizone-from'], 'sh-a');
    assert.equal(s.headers['x-multizone-hop'], '1');
    assert.equal(s.headers['x-multizone-owner'], 'sh-b');
    assert.equal(s.body, 'body-2');
  });

  it('router: 421 from the app — the owner is looked up again and the request goes to the new owner', async () => {
    const shard = shardForKey('u3', 64);
    map.set(shard, 'sh-a', 5);
    behaviour.set('sh-a /api/profiles/u3', () => {
      map.set(shard, 'sh-b', 6); // the shard moved while the request was on its way
      return { status: 421 };
    });
    const r = await call('sh-a', '/api/profiles/u3', 'POST', { 'x-user-id': 'u3' }, 'body-3');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-multizone-served-by'], 'sh-b');
    const s = last();
    assert.equal(s.zone, 'sh-b');
    assert.equal(s.body, 'body-3');
    assert.equal(s.headers['x-multizone-epoch'], '6');
    assert.equal(s.signedBy, 'sh-b');
  });

  it('router: 421 naming a newer epoch waits for the map to reach it, then re-routes', async () => {
    const shard = shardForKey('u4', 64);
    map.set(shard, 'sh-a', 1);
    behaviour.set('sh-a /api/profiles/u4', () => {
      setTimeout(() => map.set(shard, 'sh-b', 2), 50); // lint-allow: the map catches up a little later
      return { status: 421, headers: { 'x-multizone-epoch': '2' } };
    });
    const r = await call('sh-a', '/api/profiles/u4', 'POST', { 'x-user-id': 'u4' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-multizone-served-by'], 'sh-b');
  });

  it('router: 421 while the owner is still this zone fails with ERR_ROUTER_APP_MISDIRECTED (503, retry-after)', async () => {
    const shard = shardForKey('u5', 64);
    map.set(shard, 'sh-a', 7);
    behaviour.set('sh-a /api/profiles/u5', () => ({ status: 421 }));
    const r = await call('sh-a', '/api/profiles/u5', 'POST', { 'x-user-id': 'u5' });
    assert.equal(r.status, 503);
    assert.equal(r.json.error, 'ERR_ROUTER_APP_MISDIRECTED');
    assert.equal(r.headers['retry-after'], '1');
    assert.equal(r.json.shard, shard);
    // no key, no owner to ask again about
    behaviour.set('sh-a /nokey', () => ({ status: 421 }));
    const n = await call('sh-a', '/nokey');
    assert.equal(n.json.error, 'ERR_ROUTER_APP_MISDIRECTED');
  });

  it('router: 409 from the app (conflict, locked record) passes through with its body', async () => {
    const shard = shardForKey('u6', 64);
    map.set(shard, 'sh-b', 1);
    behaviour.set('sh-b /api/profiles/u6', () => ({ status: 409, headers: { 'x-app-reason': 'locked' } }));
    const r = await call('sh-a', '/api/profiles/u6', 'POST', { 'x-user-id': 'u6' });
    assert.equal(r.status, 409);
    assert.equal(r.headers['x-app-reason'], 'locked');
    assert.deepEqual(r.json, { zone: 'sh-b', status: 409 });
  });

  it('router: /_mz/health answers 503 ERR_ROUTER_APP_DOWN while the app fails its health path', async () => {
    const ok = await call('sh-b', '/_mz/health');
    assert.equal(ok.status, 200);
    assert.equal(ok.json.app, 'up');
    appUp.set('sh-b', false);
    const down = await call('sh-b', '/_mz/health');
    assert.equal(down.status, 503);
    assert.equal(down.json.error, 'ERR_ROUTER_APP_DOWN');
    appUp.set('sh-b', true);
    assert.equal((await call('sh-b', '/_mz/health')).status, 200);
  });
});
