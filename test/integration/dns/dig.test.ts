// dig (bind9-dnsutils) as a real client: ECS steering and scope, over UDP and TCP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import { digPresent, dnsTopology, HOST } from './helpers.ts';

const run = promisify(execFile);

describe('dns: dig against the server', async () => {
  const present = await digPresent();
  const topology = dnsTopology();
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  let server: DnsServer;
  before(async () => {
    server = await startDnsServer({ topology, host: HOST, port: 0, steering });
  });
  after(() => server?.close());
  const dig = async (...args: string[]) =>
    (await run('dig', [`@${HOST}`, '-p', String(server.port), '+tries=2', '+time=3', ...args])).stdout;
  const answers = (out: string) =>
    [...out.matchAll(/^(\S+)\s+(\d+)\s+IN\s+A\s+(\S+)$/gm)].map((m) => ({ name: m[1], ttl: Number(m[2]), ip: m[3] }));
  const scopeOf = (out: string) => /CLIENT-SUBNET: (\S+)\/(\d+)\/(\d+)/.exec(out);

  for (const transport of ['+notcp', '+tcp'])
    test(`dns: dig ${transport} steers 1.2.4.0/24 (Beijing) to bj-a and echoes the ECS scope`, {
      skip: !present && 'dig not installed',
    }, async () => {
      const out = await dig('api.shop.test', 'A', '+subnet=1.2.4.0/24', transport);
      assert.match(out, /status: NOERROR/);
      assert.match(out, /flags: qr aa/);
      const a = answers(out);
      assert.equal(a[0]?.ip, '127.0.3.1', out);
      assert.equal(a[0]?.ttl, 60);
      const ecs = scopeOf(out);
      assert.ok(ecs, out);
      const want = steering.decide({ service: 'api.shop.test', client: '1.2.4.0/24', family: 4 });
      assert.equal(ecs[1], '1.2.4.0');
      assert.equal(Number(ecs[2]), 24);
      assert.equal(Number(ecs[3]), want.scope);
      assert.ok(want.scope > 0);
    });

  test('dns: dig steers 202.96.128.0/24 (Guangdong) to gz-a', { skip: !present && 'dig not installed' }, async () => {
    for (const transport of ['+notcp', '+tcp']) {
      const out = await dig('api.shop.test', 'A', '+subnet=202.96.128.0/24', transport);
      assert.equal(answers(out)[0]?.ip, '127.0.4.1', out);
      assert.ok(scopeOf(out), out);
    }
  });

  test('dns: dig sees TC over UDP without EDNS and the whole answer over TCP', {
    skip: !present && 'dig not installed',
  }, async () => {
    const udp = await dig('long.shop.test', 'TXT', '+noedns', '+ignore');
    assert.match(udp, /flags: qr tc aa|flags: qr aa tc/);
    assert.match(udp, /ANSWER: 0/);
    const tcp = await dig('long.shop.test', 'TXT', '+tcp');
    assert.match(tcp, /ANSWER: 3/);
  });

  test('dns: dig with mixed case gets the question back as asked', {
    skip: !present && 'dig not installed',
  }, async () => {
    const out = await dig('ApI.ShOp.TeSt', 'A');
    assert.match(out, /^;ApI\.ShOp\.TeSt\.\s+IN\s+A$/m);
  });
});
