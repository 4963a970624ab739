// Raw dns-packet over dgram and net: rcodes, EDNS, truncation, 0x20, and RFC 7766 TCP behaviour.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { ManualClock } from '../../../src/core/clock.ts';
import { type DnsServer, startDnsServer } from '../../../src/dns/index.ts';
import { defaultGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import { decode, dnsTopology, HOST, query, TcpClient, udpExchange } from './helpers.ts';

describe('dns: raw UDP and TCP', () => {
  const topology = dnsTopology('dns:\n  tcpIdleTimeoutMs: 5000\n');
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  const clock = new ManualClock();
  let server: DnsServer;
  const clients: TcpClient[] = [];
  const tcp = async () => {
    const c = new TcpClient(server.port);
    clients.push(c);
    await c.ready();
    return c;
  };
  before(async () => {
    server = await startDnsServer({ topology, host: HOST, port: 0, steering, clock });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  test('dns: UDP and TCP listen on the same port', async () => {
    const u = decode((await udpExchange(server.port, query('api.shop.test', 'A')))!);
    const c = await tcp();
    c.send(query('api.shop.test', 'A'));
    const t = decode(await c.next());
    assert.equal(u.rcode, 'NOERROR');
    assert.deepEqual(u.answers, t.answers);
  });

  test('dns: FORMERR, NOTIMP, BADVERS, REFUSED over UDP', async () => {
    const good = query('api.shop.test', 'A', { id: 99 });
    const bad = Buffer.from(good);
    bad.writeUInt16BE(2, 4);
    const formerr = (await udpExchange(server.port, bad))!;
    assert.equal(formerr[3]! & 0x0f, 1);
    assert.equal(formerr.readUInt16BE(0), 99);
    const update = Buffer.from(good);
    update[2] = (5 << 3) | 1;
    assert.equal((await udpExchange(server.port, update))![3]! & 0x0f, 4);
    const badvers = (await udpExchange(server.port, query('api.shop.test', 'A', { version: 1 })))!;
    const opt = decode(badvers).additionals.find((a) => a.type === 'OPT') as unknown as { extendedRcode: number };
    assert.equal(opt.extendedRcode, 1, 'BADVERS = 16');
    const refused = decode((await udpExchange(server.port, query('www.example.com', 'A')))!);
    assert.equal(refused.rcode, 'REFUSED');
    assert.equal(refused.flag_aa, false);
    // a packet too short for a header gets nothing back
    assert.equal(await udpExchange(server.port, Buffer.from([1, 2, 3]), 300), null);
  });

  test('dns: 0x20 case is echoed in the question', async () => {
    const p = decode((await udpExchange(server.port, query('aPI.sHOP.tEST', 'A')))!);
    assert.equal(p.questions[0]!.name, 'aPI.sHOP.tEST');
    assert.equal(p.rcode, 'NOERROR');
    assert.ok(p.answers.length > 0);
  });

  test('dns: TC=1 over UDP when the answer does not fit; EDNS buffer honoured', async () => {
    const small = decode((await udpExchange(server.port, query('long.shop.test', 'TXT')))!);
    assert.equal(small.flag_tc, true);
    assert.equal(small.answers.length, 0);
    const big = (await udpExchange(server.port, query('long.shop.test', 'TXT', { edns: true, udp: 4096 })))!;
    assert.equal(decode(big).flag_tc, false);
    assert.ok(big.length > 512 && big.length <= 1232);
  });

  test('dns: TCP answers pipelined queries in order with their ids', async () => {
    const c = await tcp();
    const names = ['api.shop.test', 'long.shop.test', 'nope.shop.test', 'shop.test'];
    const types = ['A', 'TXT', 'A', 'SOA'];
    // all four in one write
    const frames = names.map((n, i) => {
      const q = query(n, types[i]!, { id: 1000 + i });
      const f = Buffer.alloc(2 + q.length);
      f.writeUInt16BE(q.length);
      q.copy(f, 2);
      return f;
    });
    c.sock.write(Buffer.concat(frames));
    const got = [];
    for (let i = 0; i < 4; i++) got.push(decode(await c.next()));
    assert.deepEqual(
      got.map((p) => p.id),
      [1000, 1001, 1002, 1003],
    );
    assert.deepEqual(
      got.map((p) => p.rcode),
      ['NOERROR', 'NOERROR', 'NXDOMAIN', 'NOERROR'],
    );
    assert.equal(got[1]!.answers.length, 3, 'the long answer is whole over TCP');
    assert.equal(got[1]!.flag_tc, false);
  });

  test('dns: TCP frames split into single bytes are reassembled', async () => {
    const c = await tcp();
    const q = query('api.shop.test', 'A', { id: 7 });
    const f = Buffer.alloc(2 + q.length);
    f.writeUInt16BE(q.length);
    q.copy(f, 2);
    for (const b of f) {
      c.sock.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    const p = decode(await c.next());
    assert.equal(p.id, 7);
    assert.equal(p.rcode, 'NOERROR');
  });

  test('dns: a garbage TCP frame closes that connection only', async () => {
    const before = server.handler.stats.tcpClosedGarbage;
    const bad = await tcp();
    bad.sock.write(Buffer.from([0, 3, 1, 2, 3]));
    await bad.closed;
    const huge = await tcp();
    huge.sock.write(Buffer.from([0xff, 0xff, 0, 0]));
    await huge.closed;
    assert.equal(server.handler.stats.tcpClosedGarbage, before + 2);
    const good = await tcp();
    good.send(query('api.shop.test', 'A'));
    assert.equal(decode(await good.next()).rcode, 'NOERROR');
  });

  test('dns: a malformed query inside a good TCP frame gets FORMERR and the connection stays', async () => {
    const c = await tcp();
    const q = query('api.shop.test', 'A', { id: 5 });
    const bad = Buffer.from(q);
    bad.writeUInt16BE(0, 4);
    c.send(bad);
    const r = await c.next();
    assert.equal(r[3]! & 0x0f, 1);
    c.send(q);
    assert.equal(decode(await c.next()).id, 5);
  });

  test('dns: idle TCP connections close after tcpIdleTimeoutMs on the injected clock', async () => {
    const c = await tcp();
    c.send(query('api.shop.test', 'A'));
    await c.next();
    let closed = false;
    void c.closed.then(() => {
      closed = true;
    });
    clock.advance(4999);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, 'still open just before the timeout');
    c.send(query('api.shop.test', 'A'));
    await c.next(); // activity restarts the timer
    clock.advance(4999);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false);
    clock.advance(1);
    await c.closed;
    assert.ok(server.handler.stats.tcpIdleClosed >= 1);
  });
});

describe('dns: binding', () => {
  test('dns: port 0 binds UDP then TCP on the same port, retrying when TCP finds it taken', async () => {
    const topology = dnsTopology();
    const steering = createSteering({ topology, geo: defaultGeoDb() });
    const s = await startDnsServer({ topology, host: HOST, port: 0, steering });
    try {
      // the fixed port is now taken for both: a second server on it fails with ERR_CORE_LISTEN
      await assert.rejects(startDnsServer({ topology, host: HOST, port: s.port, steering }), {
        code: 'ERR_CORE_LISTEN',
      });
      // a TCP-only squatter on some port: a fixed-port start fails, not half-bound
      const squat = net.createServer();
      await new Promise<void>((r) => squat.listen(0, HOST, () => r()));
      const port = (squat.address() as net.AddressInfo).port;
      await assert.rejects(startDnsServer({ topology, host: HOST, port, steering }), { code: 'ERR_CORE_LISTEN' });
      // and the UDP side was released: we can bind it ourselves
      const u = dgram.createSocket('udp4');
      await new Promise<void>((r) => u.bind(port, HOST, () => r()));
      u.close();
      squat.close();
    } finally {
      await s.close();
    }
  });
});

test('dns: dns-packet replies decode cleanly for every record kind', async () => {
  const topology = dnsTopology();
  const steering = createSteering({ topology, geo: defaultGeoDb() });
  const s = await startDnsServer({ topology, host: HOST, port: 0, steering });
  try {
    for (const [n, t] of [
      ['api.shop.test', 'A'],
      ['api.shop.test', 'AAAA'],
      ['shop.test', 'NS'],
      ['shop.test', 'SOA'],
      ['txt.shop.test', 'TXT'],
      ['www.shop.test', 'A'],
      ['api.shop.test', 'ANY'],
    ] as const) {
      const r = (await udpExchange(s.port, query(n, t, { edns: true })))!;
      dnsPacket.decode(r);
      assert.equal(dnsPacket.decode.bytes, r.length, `${n} ${t}`);
      assert.equal(decode(r).rcode, 'NOERROR');
    }
  } finally {
    await s.close();
  }
});
