// Zone-to-zone trust at the router (src/trust): a request that claims to come from a zone must
// carry a valid signature; /internal paths are refused to public clients however spelled;
// routing headers a client sends are never trusted; bodies are bounded by router.maxBodyBytes.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ManualClock, systemClock } from '../../../src/core/clock.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { type AppRole, type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { shardForKey } from '../../../src/shardmap/index.ts';
import { RequestSigner } from '../../../src/trust/index.ts';
import { testTopology } from '../../support/net.ts';
import { ROUTING_YAML, routerUrls } from './fixture.ts';

const SECRET = Buffer.alloc(32, 0x5a);
const MAX_BODY = 4096;

interface Seen {
  zone: string;
  method: string;
  url: string;
  body: string;
  headers: Record<string, string>;
}

/** An app that records every request it gets and answers what it saw. */
function probeApp(seen: Seen[]): AppRole {
  return {
    name: 'probe',
    async start(ctx) {
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-')) headers[k] = String(v);
          const s: Seen = {
            zone: ctx.zone.name,
            method: req.method ?? '',
            url: req.url ?? '',
            body: Buffer.concat(chunks).toString('utf8'),
            headers,
          };
          seen.push(s);
          const text = JSON.stringify({ app: 'probe', ...s });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        });
      });
      const a = await listenOn(server, ctx.listen.host, ctx.listen.port, `${ctx.zone.name} probe`);
      return { server, host: a.host, port: a.port, close: () => closeServer(server) };
    },
  };
}

/** One raw HTTP/1.1 exchange (the target exactly as written), answered status and body. */
function raw(port: number, head: string, body = ''): Promise<{ status: number; body: string; text: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d) => (buf += d));
    s.on('error', reject);
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      resolve({ status: m ? Number(m[1]) : 0, body: buf.slice(buf.indexOf('\r\n\r\n') + 4), text: buf });
    });
    s.write(`${head}\r\nhost: api.shop.test\r\nconnection: close\r\n\r\n${body}`);
  });
}

describe('router: zone-to-zone trust', () => {
  let c: RunningCluster;
  let urls: Record<string, string>;
  const seen: Seen[] = [];
  const port = (z: string) => Number(new URL(urls[z]!).port);
  const signer = (zone: string, wallAt?: number) =>
    new RequestSigner({
      secret: SECRET,
      zone,
      clock: wallAt === undefined ? systemClock : new ManualClock(0, wallAt),
    });

  before(async () => {
    const topology = testTopology({
      roles: ['app', 'router'],
      extra: `${ROUTING_YAML}router: { maxBodyBytes: ${MAX_BODY} }\n`,
    });
    c = await startCluster({
      topology,
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
      app: probeApp(seen),
      secret: SECRET,
    });
    urls = routerUrls(c);
  });
  after(async () => {
    await c.close();
  });

  async function call(
    zone: string,
    path: string,
    opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ) {
    const r = await request(`${urls[zone]}${path}`, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers,
      body: opts.body,
    });
    const text = await r.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: r.statusCode, json };
  }

  it('router/trust: /internal is 404 to public clients however spelled, and never reaches an app', async () => {
    const before = seen.length;
    const targets = [
      '/internal/accounts/1',
      '/internal',
      '/INTERNAL/x',
      '/Internal?x=1',
      '//internal/x',
      '/api/../internal/x',
      '/api/%2e%2e/internal/x',
      '/api/.%2E/internal',
      '/%69nternal/x',
      '/%2569nternal/x',
      '/api%2f..%2finternal',
      '/api%5c..%5cinternal',
      '\\internal\\x',
      '/internal;a=b/x',
      '/./internal',
      'http://api.shop.test/internal/x',
    ];
    for (const zone of Object.keys(urls))
      for (const t of targets) {
        const r = await raw(port(zone), `GET ${t} HTTP/1.1`);
        assert.ok(r.status === 404 || r.status === 400, `${zone} ${t}: ${r.status}`);
        if (r.status === 404) assert.equal(JSON.parse(r.body).error, 'ERR_TRUST_INTERNAL_PATH', t);
      }
    assert.equal(seen.length, before, 'no app saw any of them');
  });

  it('router/trust: a zone-signed request for an internal path reaches the app, signed again by the router', async () => {
    const path = '/internal/accounts/1?x=1';
    const headers = signer('gz-a').signHeaders('GET', path, {});
    const r = await call('sh-a', path, { headers });
    assert.equal(r.status, 200);
    assert.equal(r.json.url, path);
    const got = r.json.headers as Record<string, string>;
    // the app can check who sent it: the router's own signature over what the app received
    const check = signer('app-check').check({ method: 'GET', target: path, headers: got });
    assert.deepEqual(check, { zone: 'sh-a' });
  });

  it('router/trust: unsigned, expired, replayed and tampered claims to be a zone get 401', async () => {
    const shard = shardForKey('alice', 64);
    const other = Object.keys(urls).find((z) => z !== c.services.shardmap.map.owner(shard).zone)!;
    const path = '/api/profiles/x';
    const base = { 'x-user-id': 'alice', 'x-multizone-hop': '1', 'x-multizone-from': 'gz-a' };
    const before = seen.length;
    const reasons: string[] = [];
    const expect401 = async (headers: Record<string, string>, body?: string) => {
      const r = await call(other, path, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.json.error, 'ERR_TRUST_BAD_SIGNATURE');
      reasons.push(String(r.json.reason));
    };
    await expect401(base); // unsigned hop/from
    await expect401({ 'x-user-id': 'alice', 'x-multizone-from': 'gz-a' });
    const now = systemClock.wallTime();
    await expect401(signer('gz-a', now - 31_000).signHeaders('POST', path, base)); // expired
    await expect401(signer('gz-a', now + 31_000).signHeaders('POST', path, base)); // from the future
    await expect401(
      new RequestSigner({ secret: Buffer.alloc(32, 1), zone: 'gz-a', clock: systemClock }).signHeaders(
        'POST',
        path,
        base,
      ),
    );
    const good = signer('gz-a').signHeaders('POST', path, base, '{"bio":"a"}');
    await expect401({ ...good, 'x-multizone-hop': '0' }, '{"bio":"a"}'); // tampered header
    await expect401(good, '{"bio":"b"}'); // tampered body
    await expect401({ ...good, 'x-multizone-auth': `${good['x-multizone-auth']}0` }, '{"bio":"a"}'); // malformed
    assert.deepEqual(reasons, [
      'missing',
      'missing',
      'expired',
      'expired',
      'signature',
      'signature',
      'signature',
      'malformed',
    ]);
    assert.equal(seen.length, before, 'none reached an app');
    // the genuine one passes once (skew within 30 s is fine), then is a replay
    const ok = await call(other, path, { method: 'POST', headers: good, body: '{"bio":"a"}' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.body, '{"bio":"a"}');
    const again = await call(other, path, { method: 'POST', headers: good, body: '{"bio":"a"}' });
    assert.equal(again.status, 401);
    assert.equal(again.json.reason, 'replayed');
    const skewed = signer('gz-a', systemClock.wallTime() - 20_000).signHeaders('POST', path, base);
    assert.equal((await call(other, path, { method: 'POST', headers: skewed })).status, 200);
  });

  it('router/trust: routing headers a client sends are dropped; the app sees the router’s own', async () => {
    const r = await call('sh-a', '/api/profiles/x', {
      headers: {
        'x-user-id': 'alice',
        'x-multizone-zone': 'evil',
        'x-multizone-shard': '9999',
        'x-multizone-epoch': '424242',
        'x-multizone-second-read': 'evil',
        'x-multizone-served-by': 'evil',
      },
    });
    assert.equal(r.status, 200);
    const h = r.json.headers as Record<string, string>;
    assert.notEqual(h['x-multizone-zone'], 'evil');
    assert.equal(h['x-multizone-shard'], String(shardForKey('alice', 64)));
    assert.notEqual(h['x-multizone-epoch'], '424242');
    assert.equal(h['x-multizone-second-read'], undefined);
    assert.equal(h['x-multizone-served-by'], undefined);
    assert.equal(h['x-multizone-auth'], undefined, 'a public request reaches the app unsigned');
  });

  it('router/trust: a forwarded write carries its body, signed; the owner zone’s app gets it once', async () => {
    const shard = shardForKey('bob', 64);
    const owner = c.services.shardmap.map.owner(shard).zone;
    const other = Object.keys(urls).find((z) => z !== owner)!;
    const body = JSON.stringify({ bio: 'x'.repeat(1000) });
    const r = await call(other, '/api/profiles/bob', {
      method: 'POST',
      headers: { 'x-user-id': 'bob', 'content-type': 'application/json' },
      body,
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.zone, owner);
    assert.equal(r.json.body, body);
  });

  it('router/trust: a body over router.maxBodyBytes gets 413 JSON, declared or chunked', async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const declared = await raw(
      port('sh-a'),
      `POST /api/profiles/x HTTP/1.1\r\nx-user-id: alice\r\ncontent-length: ${big.length}`,
      big,
    );
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.body).error, 'ERR_ROUTER_BODY_TOO_LARGE');
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const chunked = await raw(
        port('sh-a'),
        `POST /api/profiles/x HTTP/1.1\r\nx-user-id: ${user}\r\ntransfer-encoding: chunked`,
        `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`,
      );
      assert.equal(chunked.status, 413, `${user}: ${chunked.text.slice(0, 200)}`);
    }
    assert.equal(
      (await call('sh-a', '/api/profiles/x', { method: 'POST', headers: { 'x-user-id': 'alice' }, body: 'ok' })).status,
      200,
    );
  });
});
