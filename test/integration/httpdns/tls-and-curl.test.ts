import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { makeDevCert } from '../../../src/edge/index.ts';
import { startTestHttpdns } from './helpers.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mz-httpdns-tls-'));
let plain: Awaited<ReturnType<typeof startTestHttpdns>>;
let tls: Awaited<ReturnType<typeof startTestHttpdns>>;
let app: Server;
let appPort: number;
let ca: string;

before(async () => {
  const c = await makeDevCert(['localhost', 'httpdns.shop.test']);
  ca = c.cert;
  writeFileSync(join(dir, 'cert.pem'), c.cert);
  writeFileSync(join(dir, 'key.pem'), c.key);
  plain = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
  // endpoints on 127.0.0.1 (no per-zone loopback) so curl can reach our little app through DoH
  tls = await startTestHttpdns({
    perZone: false,
    config: { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') }, rateLimit: { perSecond: 0, burst: 1 } },
  });
  app = createServer((req, res) => res.end(`hello ${req.headers.host}`));
  appPort = (await listenOn(app, '127.0.0.1', 0, 'test app')).port;
});
after(async () => {
  await plain.server.close();
  await tls.server.close();
  await closeServer(app);
  rmSync(dir, { recursive: true, force: true });
});

test('httpdns/curl: curl gets a /d answer', async () => {
  const { stdout } = await run('curl', ['-s', `http://127.0.0.1:${plain.server.port}/d?host=api.shop.test&ip=1.2.4.8`]);
  const j = JSON.parse(stdout);
  assert.equal(j.client_ip, '1.2.4.8');
  assert.equal(j.dns[0].ips[0], '127.0.3.1');
});

// curl's release builds speak DoH only over HTTPS, so this uses the TLS listener
test('httpdns/curl: curl --doh-url resolves through our DoH and reaches the app', async () => {
  const doh = ['--cacert', join(dir, 'cert.pem'), '--doh-url', `https://127.0.0.1:${tls.server.port}/dns-query`];
  const { stdout } = await run('curl', ['-s', '--max-time', '10', ...doh, `http://api.shop.test:${appPort}/`]);
  assert.equal(stdout, `hello api.shop.test:${appPort}`);
  // a name we don't serve does not resolve
  await assert.rejects(
    run('curl', ['-s', '--max-time', '10', ...doh, `http://nope.shop.test:${appPort}/`]),
    (e: { code: number }) => e.code === 6, // CURLE_COULDNT_RESOLVE_HOST
  );
});

test('httpdns/tls: HTTPS with the configured cert, over HTTP/1.1 and HTTP/2', async () => {
  assert.equal(tls.server.protocol, 'https');
  for (const allowH2 of [false, true]) {
    const dispatcher = new Agent({ connect: { ca, servername: 'httpdns.shop.test' }, allowH2 });
    try {
      const r = await request(`https://127.0.0.1:${tls.server.port}/d?host=api.shop.test&ip=202.96.128.86`, {
        dispatcher,
      });
      assert.equal(r.statusCode, 200);
      const j = (await r.body.json()) as { client_ip: string; dns: { ips: string[] }[] };
      assert.equal(j.client_ip, '202.96.128.86');
      assert.deepEqual(j.dns[0]!.ips, ['127.0.0.1']);
    } finally {
      await dispatcher.close();
    }
  }
  const { stdout } = await run('curl', [
    '-s',
    '--http2',
    '--cacert',
    join(dir, 'cert.pem'),
    '--doh-url',
    `https://localhost:${tls.server.port}/dns-query`,
    '-w',
    '%{http_code}',
    '-o',
    '/dev/null',
    `https://localhost:${tls.server.port}/d?host=api.shop.test`,
  ]);
  assert.equal(stdout, '200');
});

test('httpdns/tls: DoH, errors and oversized bodies over HTTP/2 streams', async () => {
  const dnsPacket = (await import('dns-packet')).default;
  const q = dnsPacket.encode({ type: 'query', id: 0, questions: [{ type: 'A', name: 'api.shop.test' }] });
  const dispatcher = new Agent({ connect: { ca, servername: 'localhost' }, allowH2: true });
  const base = `https://127.0.0.1:${tls.server.port}`;
  try {
    const get = await request(`${base}/dns-query?dns=${q.toString('base64url')}`, { dispatcher });
    assert.equal(get.statusCode, 200);
    assert.equal(get.headers['content-type'], 'application/dns-message');
    assert.equal(get.headers['cache-control'], 'max-age=60');
    const msg = dnsPacket.decode(Buffer.from(await get.body.arrayBuffer())) as { answers: { data: string }[] };
    assert.equal(msg.answers[0]!.data, '127.0.0.1');
    const post = await request(`${base}/dns-query`, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/dns-message' },
      body: q,
    });
    assert.equal(post.statusCode, 200);
    assert.equal(
      (dnsPacket.decode(Buffer.from(await post.body.arrayBuffer())) as { answers: unknown[] }).answers.length,
      1,
    );
    const big = await request(`${base}/dns-query`, {
      dispatcher,
      method: 'POST',
      headers: { 'content-type': 'application/dns-message' },
      body: Buffer.alloc(70_000),
    });
    assert.equal(big.statusCode, 413);
    await big.body.dump();
    const nf = await request(`${base}/nope`, { dispatcher });
    assert.equal(nf.statusCode, 404);
    assert.equal(((await nf.body.json()) as { code: string }).code, 'NotFound');
    const d = await request(`${base}/d?host=api.shop.test`, { dispatcher, method: 'HEAD' });
    assert.equal(d.statusCode, 200);
    await d.body.dump();
    // still serving after all that
    const again = await request(`${base}/d?host=api.shop.test`, { dispatcher });
    assert.equal(again.statusCode, 200);
    await again.body.dump();
  } finally {
    await dispatcher.close();
  }
});
