import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import { after, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { request } from 'undici';
import { ManualClock } from '../../../src/core/clock.ts';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { startDnsServer } from '../../../src/dns/index.ts';
import { TableGeoDb } from '../../../src/geo/index.ts';
import { createHealthChecker } from '../../../src/health/index.ts';
import { startHttpdnsServer } from '../../../src/httpdns/index.ts';
import { createSteering, MutableSteeringState } from '../../../src/steering/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { query } from '../dns/helpers.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'] as const;
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

/** A zone's edge that can be stopped and started again on the same port. */
async function edge(host: string) {
  let server: Server | null = null;
  let port = 0;
  const start = async () => {
    const s = createServer((_req, res) => res.writeHead(200).end('ok'));
    port = (await listenOn(s, host, port, 'edge')).port;
    server = s;
  };
  const stop = async () => {
    if (server) await closeServer(server);
    server = null;
  };
  await start();
  closers.push(stop);
  return { start, stop, port: () => port };
}

async function digA(port: number, subnet: string): Promise<string[]> {
  const sock = createSocket('udp4');
  const q = query('api.shop.test', 'A', { id: 7, ecs: { ip: subnet, prefix: 24 } });
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      sock.once('message', resolve);
      sock.once('error', reject);
      sock.send(q, port, '127.0.0.1');
    });
    const p = dnsPacket.decode(reply);
    return (p.answers ?? []).filter((a) => a.type === 'A').map((a) => String((a as { data: unknown }).data));
  } finally {
    sock.close();
  }
}

it('health: DNS and HTTPDNS stop answering a stopped edge within interval × fall + one, and answer it after rise', async () => {
  const edges: Awaited<ReturnType<typeof edge>>[] = [];
  for (const [i] of ZONES.entries()) edges.push(await edge(`127.0.${i + 1}.1`));
  const topology = parseTopology(`name: t
apex: shop.test
regions: { east: {}, north: {}, south: {} }
zones:
${ZONES.map(
  (z, i) => `  ${z}:
    region: ${['east', 'east', 'north', 'south'][i]}
    core: ${i === 0}
    listen: { edge: 127.0.${i + 1}.1:${edges[i]!.port()}, dns: 127.0.${i + 1}.1:0, httpdns: 127.0.${i + 1}.1:0 }`,
).join('\n')}
services:
  api.shop.test: { role: edge, ttl: 60, policy: nearest }
policies:
  nearest:
    rules:
      - { name: north, provinces: [CN-BJ], zones: [bj-a, [sh-a, sh-b], gz-a] }
    default: [[sh-a, sh-b], bj-a, gz-a]
health: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 }
`);
  const clock = new ManualClock();
  const state = new MutableSteeringState();
  const geo = new TableGeoDb([{ cidr: '10.1.0.0/16', country: 'CN', province: 'CN-BJ' }]);
  const steering = createSteering({ topology, geo, state });
  const dns = await startDnsServer({ topology, host: '127.0.0.1', port: 0, steering, state, clock });
  closers.push(() => dns.close());
  const httpdns = await startHttpdnsServer({ topology, steering, geo, state, clock, host: '127.0.0.1', port: 0 });
  closers.push(() => httpdns.close());
  const checker = createHealthChecker({ topology, clock, state });
  closers.push(() => checker.stop());
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      clock.advance(50);
      await checker.settle();
    }
  };
  const d = async () => {
    const r = await request(`http://127.0.0.1:${httpdns.port}/d?host=api.shop.test&ip=10.1.2.3`);
    const body = (await r.body.json()) as { dns: { ips: string[] }[] };
    return body.dns[0]!.ips;
  };

  checker.start();
  await run(3000);
  assert.equal((await digA(dns.port, '10.1.2.0'))[0], '127.0.3.1');
  assert.equal((await d())[0], '127.0.3.1');

  await edges[2]!.stop();
  await run(2000); // fall - 1 intervals: still answered
  assert.equal((await digA(dns.port, '10.1.2.0'))[0], '127.0.3.1');
  await run(2000); // fall intervals + one: gone from both
  const viaDns = await digA(dns.port, '10.1.2.0');
  const viaHttpdns = await d();
  assert.ok(viaDns.length > 0 && !viaDns.includes('127.0.3.1'), `dns still answers bj-a: ${viaDns}`);
  assert.ok(viaHttpdns.length > 0 && !viaHttpdns.includes('127.0.3.1'), `httpdns still answers bj-a: ${viaHttpdns}`);

  await edges[2]!.start();
  await run(3000); // rise intervals + one
  assert.equal((await digA(dns.port, '10.1.2.0'))[0], '127.0.3.1');
  assert.equal((await d())[0], '127.0.3.1');
});
