// The router's relay (src/router/relay.ts): an upstream body written straight into the client's
// response through undici's dispatch. Real sockets: a large body arrives byte-exact through a
// client that reads slowly (backpressure), a dropped body leaves the pooled connection usable,
// repeated headers stay repeated, and a client that goes away mid-body stops the upstream.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { dispatchRelay } from '../../../src/router/relay.ts';

const BIG = Buffer.alloc(3 * 1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 11)) & 0xff;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let upstream: Server;
let front: Server;
let pool: Pool;
let upstreamClosedEarly = 0;
let connections = 0;

const port = (s: Server) => (s.address() as AddressInfo).port;
const listen = (s: Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));

before(async () => {
  upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
      res.end(BIG);
    } else if (req.url === '/cookies') {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end('ok');
    } else if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('x'.repeat(16_384)), 5);
      res.on('close', () => {
        clearInterval(t);
        if (!res.writableFinished) upstreamClosedEarly++;
      });
    } else res.end('small');
  });
  upstream.on('connection', () => connections++);
  await listen(upstream);
  pool = new Pool(`http://127.0.0.1:${port(upstream)}`, { connections: 1, pipelining: 1 });
  // a front server relaying every request to the upstream, as pipeBack does
  front = createServer(async (req, res) => {
    const r = await dispatchRelay(pool, { path: req.url ?? '/', method: 'GET', headers: {} });
    if (req.url === '/dumped') {
      await r.dump();
      res.end('dropped');
      return;
    }
    res.writeHead(r.statusCode, r.headers);
    r.relayTo(res);
  });
  await listen(front);
});
after(async () => {
  front.close();
  upstream.close();
  await pool.destroy();
});

/** GET through the front server, reading slowly (pauses), resolving the whole body. */
function slowGet(path: string): Promise<{ headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: port(front), path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('router relay: a 3 MiB body reaches a slow reader byte-exact', async () => {
  const r = await slowGet('/big');
  assert.equal(r.body.length, BIG.length);
  assert.equal(sha(r.body), sha(BIG));
  assert.equal(r.headers['content-length'], String(BIG.length));
});

test('router relay: repeated headers stay repeated', async () => {
  const r = await slowGet('/cookies');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
});

test('router relay: a dropped body leaves the one pooled connection usable', async () => {
  const before = connections;
  for (let i = 0; i < 3; i++) assert.equal((await slowGet('/dumped')).body.toString(), 'dropped');
  assert.equal((await slowGet('/small')).body.toString(), 'small');
  assert.ok(connections - before <= 1, `the connection was kept (${connections - before} new)`);
});

test('router relay: a client that goes away mid-body stops the upstream', async () => {
  await new Promise<void>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: port(front), path: '/endless', agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > 100_000) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
  for (let i = 0; i < 100 && upstreamClosedEarly === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(upstreamClosedEarly, 1, 'the upstream response was cut');
  // and the pool still serves
  assert.equal((await slowGet('/small')).body.toString(), 'small');
});
