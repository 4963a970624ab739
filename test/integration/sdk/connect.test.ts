import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { createServer as createHttpsServer, get as httpsGet, type Server } from 'node:https';
import { after, before, test } from 'node:test';
import { fetch } from 'undici';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { makeDevCert } from '../../../src/edge/index.ts';
import {
  createDispatcher,
  createLookup,
  createNodeAgent,
  createResolver,
  type Resolver,
} from '../../../src/sdk/index.ts';
import { startTestHttpdns } from '../httpdns/helpers.ts';

let httpdns: Awaited<ReturnType<typeof startTestHttpdns>>;
let ca: string;
const servers: Server[] = [];
let port = 0;
const seen: { addr: string; servername: string | false | null; host: string | undefined }[] = [];
const resolvers: Resolver[] = [];

/** An HTTPS server for api.shop.test that records the SNI and Host of each request. */
async function httpsOn(host: string, cert: { cert: string; key: string }, p: number): Promise<number> {
  const s = createHttpsServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const tlsSock = req.socket as import('node:tls').TLSSocket;
    seen.push({ addr: host, servername: tlsSock.servername, host: req.headers.host });
    res.end(`ok ${host}`);
  });
  servers.push(s);
  return (await listenOn(s, host, p, 'test https')).port;
}

before(async () => {
  const c = await makeDevCert(['api.shop.test']);
  ca = c.cert;
  // Beijing clients get [bj-a 127.0.3.1, sh-a|sh-b]: bj-a has nothing listening, the other two do
  httpdns = await startTestHttpdns({ config: { rateLimit: { perSecond: 0, burst: 1 } } });
  port = await httpsOn('127.0.2.1', c, 0);
  await httpsOn('127.0.1.1', c, port);
});
after(async () => {
  for (const r of resolvers) await r.close();
  for (const s of servers) await closeServer(s);
  await httpdns.server.close();
});

function resolver(): Resolver {
  const r = createResolver({ servers: [httpdns.base], clientIp: '1.2.4.8', reports: false });
  resolvers.push(r);
  return r;
}

test('sdk/connect: an undici dispatcher connects to the best live IP with SNI and Host kept as the hostname', async () => {
  const r = resolver();
  const first = await r.resolve('api.shop.test');
  assert.equal(first[0], '127.0.3.1'); // the geo choice, which is dead
  const dispatcher = createDispatcher(r, { connect: { ca } });
  try {
    seen.length = 0;
    const res = await fetch(`https://api.shop.test:${port}/x`, { dispatcher });
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.ok(['ok 127.0.1.1', 'ok 127.0.2.1'].includes(body), body);
    assert.deepEqual(seen[0]!.servername, 'api.shop.test');
    assert.equal(seen[0]!.host, `api.shop.test:${port}`);
    // the failed address is demoted, the one that worked promoted
    assert.equal(r.score('127.0.3.1').recentFailRate, 1);
    const ranked = await r.resolve('api.shop.test');
    assert.equal(ranked[0], seen[0]!.addr);
    assert.equal(ranked[1], '127.0.3.1');
    assert.ok(r.score(seen[0]!.addr).rttMs !== null);
  } finally {
    await dispatcher.close();
  }
});

test('sdk/connect: a TLS certificate for another name is still refused (SNI is the hostname, not the IP)', async () => {
  const other = await makeDevCert(['other.test']);
  const r = resolver();
  const dispatcher = createDispatcher(r, { connect: { ca: other.cert } });
  try {
    await assert.rejects(fetch(`https://api.shop.test:${port}/`, { dispatcher }));
  } finally {
    await dispatcher.close();
  }
});

test('sdk/connect: createLookup plugs into https.get; createNodeAgent reports connect times', async () => {
  const r = resolver();
  const lookup = createLookup(r);
  seen.length = 0;
  const body = await new Promise<string>((resolve, reject) => {
    // family 4 and all:false, as older callers ask; autoSelectFamily asks for all
    httpsGet(
      `https://api.shop.test:${port}/`,
      { lookup: lookup as never, ca, family: 4, autoSelectFamily: false } as import('node:https').RequestOptions,
      (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      },
    ).on('error', reject);
  }).catch((e) => `error ${e.code}`);
  // the first ranked address is bj-a (nothing listens there): lookup alone cannot fail over
  assert.equal(body, 'error ECONNREFUSED');
  r.report('127.0.3.1', false);
  const agent = createNodeAgent(r, { https: true, ca, keepAlive: false });
  const ok = await new Promise<string>((resolve, reject) => {
    httpsGet(`https://api.shop.test:${port}/`, { agent }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
  assert.match(ok, /^ok 127\.0\.[12]\.1$/);
  assert.equal(seen.at(-1)!.servername, 'api.shop.test');
  const used = ok.slice(3);
  assert.ok(r.score(used).rttMs !== null);
  agent.destroy();
  // and plain http.get works with the lookup for names HTTPDNS knows
  const refused = await new Promise<string>((resolve) => {
    httpGet(`http://api.shop.test:1/`, { lookup: lookup as never }, () => resolve('answered')).on('error', (e) =>
      resolve((e as NodeJS.ErrnoException).code ?? 'error'),
    );
  });
  assert.equal(refused, 'ECONNREFUSED');
});
