import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { RunningCluster } from '../../../src/runtime/index.ts';
import { GLOBAL, shardForKey } from '../../../src/shardmap/index.ts';
import { routerUrls, startRoutingCluster } from './fixture.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const jwt = (p: unknown) => `e30.${Buffer.from(JSON.stringify(p)).toString('base64url')}.sig`;

describe('router: routing through a four-zone cluster', () => {
  let c: RunningCluster;
  let urls: Record<string, string>;
  let svc: RunningCluster['services']['shardmap'];
  const owner = (shard: number | 'global') => svc.map.owner(shard).zone;

  before(async () => {
    c = await startRoutingCluster();
    urls = routerUrls(c);
    svc = c.services.shardmap;
  });
  after(async () => {
    await c.close();
  });

  async function call(zone: string, path: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
    const r = await request(`${urls[zone]}${path}`, { method: (opts.method ?? 'GET') as 'GET', headers: opts.headers });
    const text = await r.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: r.statusCode, headers: r.headers, json };
  }

  it('router: every primary key source routes a write to the shard owner from every zone', async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['header', { 'x-user-id': 'alice' }, 'alice'],
      ['cookie', { cookie: 'x=1; uid=bob' }, 'bob'],
      ['jwt', { authorization: `Bearer ${jwt({ sub: 'carol' })}` }, 'carol'],
    ];
    for (const [what, headers, key] of cases) {
      const shard = shardForKey(key, 64);
      for (const entry of ZONES) {
        const r = await call(entry, '/api/profiles/x', { method: 'POST', headers });
        assert.equal(r.status, 200, `${what} via ${entry}`);
        assert.equal(r.headers['x-multizone-served-by'], owner(shard), `${what} via ${entry}`);
        assert.equal(r.json.shard, String(shard));
        assert.equal(r.json.epoch, '1');
      }
    }
    const q = shardForKey('dave', 64);
    assert.equal(
      (await call('gz-a', '/api/profiles/x?uid=dave', { method: 'PUT' })).headers['x-multizone-served-by'],
      owner(q),
    );
    const p = shardForKey('erin', 64);
    const viaPath = await call('bj-a', '/api/users/erin', { method: 'DELETE' });
    assert.equal(viaPath.headers['x-multizone-served-by'], owner(p));
    assert.equal(viaPath.json.shard, String(p));
  });

  it('router: the first router sets the routing cookie mz_zone=<zone>:<shard>', async () => {
    const shard = shardForKey('alice', 64);
    const r = await call('sh-a', '/api/profiles/x', { method: 'POST', headers: { 'x-user-id': 'alice' } });
    const cookies = ([] as string[]).concat(r.headers['set-cookie'] ?? []);
    assert.ok(
      cookies.some((s) => s.startsWith(`mz_zone=${owner(shard)}:${shard};`)),
      String(cookies),
    );
    const again = await call('sh-a', '/api/profiles/x', {
      method: 'POST',
      headers: { 'x-user-id': 'alice', cookie: `mz_zone=${owner(shard)}:${shard}` },
    });
    assert.equal(again.headers['set-cookie'], undefined);
  });

  it('router: a geo point inside a fence routes to the fence shard; outside, to the default', async () => {
    const shard = c.services.topology.fenceShard('north-china');
    const r = await call('gz-a', '/api/profiles/x', { method: 'POST', headers: { 'x-geo': '39.9,116.4' } });
    assert.equal(r.json.shard, String(shard));
    assert.equal(r.headers['x-multizone-served-by'], owner(shard));
    assert.equal(owner(shard), 'bj-a');
    const out = await call('gz-a', '/api/profiles/x', { method: 'POST', headers: { 'x-geo': '-33.9,151.2' } });
    assert.equal(out.headers['x-multizone-served-by'], 'gz-a');
    // outside every fence there is no shard: no x-multizone-shard header at all, not an empty one
    assert.equal(out.json.shard, null);
    assert.equal(out.headers['x-multizone-shard'], undefined);
  });

  it('router: mappings — an order id carries its shard, a session its zone, a ticket a key to hash', async () => {
    const o = await call('sh-b', '/api/orders/9', { method: 'POST', headers: { 'x-order-id': 'o17-abc' } });
    assert.equal(o.json.shard, '17');
    assert.equal(o.headers['x-multizone-served-by'], owner(17));
    for (const entry of ZONES) {
      const s = await call(entry, '/api/sessions/me', { headers: { cookie: 'mz_sid=gz-a.s3cr3t' } });
      assert.equal(s.headers['x-multizone-served-by'], 'gz-a', `session via ${entry}`);
    }
    const t = await call('sh-a', '/api/tickets/1', { method: 'POST', headers: { 'x-ticket': 't-zz9' } });
    assert.equal(t.json.shard, String(shardForKey('zz9', 64)));
    // the mapping wins over the primary key; without it, the primary key is used
    const both = await call('bj-a', '/api/orders/1', {
      method: 'POST',
      headers: { 'x-order-id': 'o3-x', 'x-user-id': 'alice' },
    });
    assert.equal(both.json.shard, '3');
    const fallback = await call('bj-a', '/api/orders/1', { method: 'POST', headers: { 'x-user-id': 'alice' } });
    assert.equal(fallback.json.shard, String(shardForKey('alice', 64)));
  });

  it('router: global resources read locally and write at the core zone', async () => {
    for (const entry of ZONES) {
      const read = await call(entry, '/api/accounts/1', { headers: { 'x-user-id': 'alice' } });
      assert.equal(read.headers['x-multizone-served-by'], entry);
      const write = await call(entry, '/api/accounts', { method: 'POST', headers: { 'x-user-id': 'alice' } });
      assert.equal(write.headers['x-multizone-served-by'], owner(GLOBAL));
      assert.equal(write.json.shard, 'global');
    }
    assert.equal(owner(GLOBAL), 'sh-a');
  });

  it('router: replica reads of minutes-fresh data are served locally; strong-ish data at the owner', async () => {
    const shard = shardForKey('alice', 64);
    const other = ZONES.find((z) => z !== owner(shard))!;
    const r = await call(other, '/api/profiles/alice', { headers: { 'x-user-id': 'alice' } });
    assert.equal(r.headers['x-multizone-served-by'], other);
    const t = await call(other, '/api/tickets/1', { headers: { 'x-ticket': 't-alice' } });
    assert.equal(t.headers['x-multizone-served-by'], owner(shardForKey('alice', 64)));
  });

  it('router: requests without a key go to the default zone (local)', async () => {
    for (const entry of ZONES) {
      const r = await call(entry, '/somewhere/else', { method: 'POST' });
      assert.equal(r.headers['x-multizone-served-by'], entry);
    }
  });

  it('router: hostile input gets 4xx JSON with a code, and the router keeps serving', async () => {
    const bad: [Record<string, string>, string, number][] = [
      [{ authorization: 'Bearer not.a-jwt' }, 'ERR_ROUTER_BAD_KEY', 400],
      [
        { authorization: `Bearer a.${Buffer.from('{"sub":{"x":1}}').toString('base64url')}.c` },
        'ERR_ROUTER_BAD_KEY',
        400,
      ],
      [{ 'x-geo': '999,1' }, 'ERR_ROUTER_BAD_KEY', 400],
      [{ 'x-geo': 'north' }, 'ERR_ROUTER_BAD_KEY', 400],
      [{ 'x-user-id': 'u'.repeat(300) }, 'ERR_ROUTER_BAD_KEY', 400],
    ];
    for (const [headers, code, status] of bad) {
      const r = await call('sh-a', '/api/profiles/x', { method: 'POST', headers });
      assert.equal(r.status, status, JSON.stringify(headers).slice(0, 80));
      assert.equal(r.json.error, code);
    }
    const orders = await call('sh-a', '/api/orders/1', { method: 'POST', headers: { 'x-order-id': 'o99999-x' } });
    assert.equal(orders.json.error, 'ERR_ROUTER_BAD_KEY');
    const unmatched = await call('sh-a', '/api/orders/1', { method: 'POST', headers: { 'x-order-id': 'nope' } });
    assert.equal(unmatched.json.error, 'ERR_ROUTER_BAD_KEY');
    const zone = await call('sh-a', '/api/sessions/me', { headers: { cookie: 'mz_sid=mars-1.abc' } });
    assert.equal(zone.status, 400);
    assert.equal(zone.json.error, 'ERR_ROUTER_UNKNOWN_ZONE');
    const huge = await call('sh-a', '/api/profiles/x', { headers: { 'x-big': 'a'.repeat(20_000) } });
    assert.equal(huge.status, 431);
    assert.equal(huge.json.error, 'ERR_ROUTER_BAD_REQUEST');
    // a garbage request line on a raw socket
    const u = new URL(urls['sh-a']!);
    const raw = await new Promise<string>((resolve) => {
      const s = connect(Number(u.port), u.hostname, () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let buf = '';
      s.on('data', (d) => (buf += d));
      s.on('close', () => resolve(buf));
      s.on('error', () => resolve(buf));
    });
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.match(raw, /ERR_ROUTER_BAD_REQUEST/);
    const ok = await call('sh-a', '/api/profiles/x', { method: 'POST', headers: { 'x-user-id': 'alice' } });
    assert.equal(ok.status, 200);
  });

  it('router: a hop counter at the limit gets 421 when it must forward; unsigned it is refused with 401', async () => {
    const shard = shardForKey('alice', 64);
    const other = ZONES.find((z) => z !== owner(shard))!;
    const unsigned = await call(other, '/api/profiles/x', {
      method: 'POST',
      headers: { 'x-user-id': 'alice', 'x-multizone-hop': '2' },
    });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.json.error, 'ERR_TRUST_BAD_SIGNATURE');
    const headers = c.services.signer
      .as('gz-a')
      .signHeaders('POST', '/api/profiles/x', { 'x-user-id': 'alice', 'x-multizone-hop': '2' });
    const r = await call(other, '/api/profiles/x', { method: 'POST', headers });
    assert.equal(r.status, 421);
    assert.equal(r.json.error, 'ERR_ROUTER_TOO_MANY_HOPS');
    assert.equal(r.json.target, owner(shard));
  });

  it('router: GET /api/shardmap summarises zones and lists every shard', async () => {
    const base = `http://${c.control.host}:${c.control.port}`;
    const r = await request(`${base}/api/shardmap`);
    const j = (await r.body.json()) as { count: number; zones: Record<string, { shards: number }>; shards: unknown[] };
    assert.equal(j.count, 64);
    assert.equal(j.shards.length, 64);
    assert.equal(
      Object.values(j.zones).reduce((a, z) => a + z.shards, 0),
      64,
    );
  });
});
