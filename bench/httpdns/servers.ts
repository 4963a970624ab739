/**
 * The servers the httpdns bench measures, one per child process (so `taskset -c 0` pins it):
 *   ours [--tls DIR]  our HTTPDNS on the default topology, rate limit off
 *   bare              node:http answering a fixed /d-sized JSON (the Node ceiling)
 *   bare-h2 DIR       node:http2 over TLS answering every stream with one fixed DNS message (the
 *                     Node ceiling for DoH: raw streams, no parsing, no steering)
 * Prints {"port":N} on stdout once listening; exits on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { createMetrics } from '../../src/core/metrics.ts';
import { defaultGeoDb } from '../../src/geo/index.ts';
import { startHttpdnsServer } from '../../src/httpdns/index.ts';
import { createSteering, MutableSteeringState } from '../../src/steering/index.ts';
import { loadTopology } from '../../src/topology/index.ts';

const [kind, flag, dir] = process.argv.slice(2);

if (kind === 'ours') {
  const topology = loadTopology();
  const state = new MutableSteeringState();
  const geo = defaultGeoDb();
  const steering = createSteering({ topology, geo, state });
  const s = await startHttpdnsServer({
    topology,
    steering,
    geo,
    state,
    metrics: createMetrics(),
    zone: 'sh-a',
    config: {
      ...topology.config.httpdns,
      rateLimit: { perSecond: 0, burst: 1 },
      tls: flag === '--tls' && dir ? { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } : undefined,
    },
    host: '127.0.0.1',
    port: 0,
  });
  process.stdout.write(`${JSON.stringify({ port: s.port })}\n`);
  process.once('SIGTERM', () => void s.close().then(() => process.exit(0)));
} else if (kind === 'bare') {
  const body = JSON.stringify({
    client_ip: '1.2.4.8',
    dns: [
      {
        host: 'api.shop.test',
        client_ip: '1.2.4.8',
        ips: ['127.0.3.1', '127.0.1.1'],
        ipsv6: [],
        ttl: 60,
        origin_ttl: 60,
      },
    ],
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'private, max-age=60',
    });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  process.once('SIGTERM', () => {
    for (const s of sockets) s.destroy();
    server.close(() => process.exit(0));
  });
} else if (kind === 'bare-h2' && flag) {
  // the reply ours gives: the question and the two A records, no OPT (the bench's query has none)
  const answer = dnsPacket.encode({
    id: 0,
    type: 'response',
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED,
    questions: [{ name: 'api.shop.test', type: 'A', class: 'IN' }],
    answers: [
      { name: 'api.shop.test', type: 'A', ttl: 60, data: '127.0.3.1' },
      { name: 'api.shop.test', type: 'A', ttl: 60, data: '127.0.1.1' },
    ],
  });
  const head = {
    ':status': 200,
    'content-type': 'application/dns-message',
    'content-length': answer.length,
    'cache-control': 'max-age=60',
  };
  const server = createSecureServer({
    cert: readFileSync(join(flag, 'cert.pem')),
    key: readFileSync(join(flag, 'key.pem')),
  });
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    // a POST's body is read (and dropped) before the answer, as a DoH server must read the query
    stream.on('data', () => {});
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond(head);
      stream.end(answer);
    });
  });
  server.on('sessionError', () => {});
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
  process.once('SIGTERM', () => process.exit(0));
} else {
  process.stderr.write('usage: servers.ts ours [--tls DIR] | bare | bare-h2 DIR\n');
  process.exit(2);
}
