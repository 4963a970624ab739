// Response-rate limiting over real UDP: burst, then drops with every Nth reply slipped as TC=1.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import { decode, dnsTopology, HOST, query, TcpClient, udpExchange } from './helpers.ts';

const clock = new ManualClock();
const topology = dnsTopology('dns:\n  rrl: { responsesPerSecond: 2, burst: 5, slip: 2 }\n');
const steering = createSteering({ topology, geo: defaultGeoDb() });
let server: DnsServer;
before(async () => {
  server = await startDnsServer({ topology, host: HOST, port: 0, steering, clock });
});
after(() => server.close());

test('dns: RRL answers the burst, then drops, slipping every 2nd reply as an empty TC=1', async () => {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  const stats = server.handler.stats;
  try {
    for (let i = 0; i < 25; i++) sock.send(query('long.shop.test', 'TXT', { id: i, edns: true }), server.port, HOST);
    // 5 answers + 10 slips; wait for them (bounded), then for the server to have seen all 25
    for (let spin = 0; spin < 400 && (got.length < 15 || stats.packets < 25); spin++)
      await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    sock.close();
  }
  const full = got.filter((m) => (m[2]! & 0x02) === 0);
  const slipped = got.filter((m) => (m[2]! & 0x02) !== 0);
  assert.equal(full.length, 5);
  assert.equal(slipped.length, 10);
  assert.equal(stats.rrlDropped, 10);
  assert.equal(stats.rrlSlipped, 10);
  for (const m of slipped) {
    const p = decode(m);
    assert.equal(p.answers.length, 0);
    assert.equal(p.questions[0]!.name, 'long.shop.test');
    assert.ok(m.length < 100, 'a slip is no bigger than the query: nothing to amplify');
  }
  for (const m of full) assert.equal(decode(m).answers.length, 3);

  // TCP is never limited (it cannot be spoofed): the slipped client's retry succeeds
  const c = new TcpClient(server.port);
  await c.ready();
  c.send(query('long.shop.test', 'TXT'));
  assert.equal(decode(await c.next()).answers.length, 3);
  c.close();

  // still limited: the 11th limited reply is dropped (odd), nothing comes back
  assert.equal(await udpExchange(server.port, query('api.shop.test', 'A'), 300), null);
  // the bucket refills on the injected clock: 2/s → one token after 500 ms
  clock.advance(500);
  const p = decode((await udpExchange(server.port, query('api.shop.test', 'A')))!);
  assert.equal(p.flag_tc, false);
  assert.ok(p.answers.length > 0);
});
