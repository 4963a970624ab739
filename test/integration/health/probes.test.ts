import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { after, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { closeServer, listenOn } from '../../../src/core/listen.ts';
import { networkProbe, type ProbeRequest } from '../../../src/health/index.ts';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function http(status: number, host = '127.0.0.1'): Promise<{ port: number; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.socket.remoteAddress} ${req.url}`);
    res.writeHead(status).end('x');
  });
  const a = await listenOn(server, host, 0, 'test http');
  closers.push(() => closeServer(server));
  return { port: a.port, seen, server };
}

async function udp(
  answer: (q: Buffer) => Buffer | null,
  host = '127.0.0.1',
): Promise<{ port: number; seen: string[]; sock: Socket }> {
  const seen: string[] = [];
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    seen.push(rinfo.address);
    const out = answer(msg);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  closers.push(() => new Promise((r) => sock.close(() => r())));
  return { port: sock.address().port, seen, sock };
}

/** A port nobody listens on: bind, read the port, close. */
async function closedPort(): Promise<number> {
  const s: TcpServer = createTcpServer();
  const a = await listenOn(s, '127.0.0.1', 0, 'probe port');
  await closeServer(s);
  return a.port;
}

function req(kind: ProbeRequest['kind'], port: number, more: Partial<ProbeRequest> = {}): ProbeRequest {
  return {
    target: { id: `t/${kind}`, zone: 't', role: kind === 'dns' ? 'dns' : 'app', host: '127.0.0.1', port },
    prober: 't',
    kind,
    path: '/healthz',
    expectStatus: ['2xx'],
    dnsName: 'shop.test',
    localAddress: undefined,
    signal: new AbortController().signal,
    ...more,
  };
}

function dnsAnswer(q: Buffer, rcode: string): Buffer {
  const p = dnsPacket.decode(q);
  return dnsPacket.encode({
    type: 'response',
    id: p.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (rcode === 'SERVFAIL' ? 2 : rcode === 'REFUSED' ? 5 : 0),
    questions: p.questions,
    answers: [],
  });
}

describe('health probes over real sockets', () => {
  it('health/http: a status in expectStatus passes, another fails with ERR_HEALTH_PROBE_STATUS', async () => {
    const good = await http(204);
    const bad = await http(503);
    await networkProbe(req('http', good.port));
    assert.deepEqual(good.seen, ['127.0.0.1 /healthz']);
    await assert.rejects(networkProbe(req('http', bad.port)), { code: 'ERR_HEALTH_PROBE_STATUS' });
    await networkProbe(req('http', bad.port, { expectStatus: ['2xx', '503'] }));
  });

  it('health/http: a closed port fails with ERR_HEALTH_PROBE_CONNECT', async () => {
    await assert.rejects(networkProbe(req('http', await closedPort())), { code: 'ERR_HEALTH_PROBE_CONNECT' });
  });

  it('health/tcp: a connect proves a listener; a closed port fails', async () => {
    const s = await http(500);
    await networkProbe(req('tcp', s.port));
    await assert.rejects(networkProbe(req('tcp', await closedPort())), { code: 'ERR_HEALTH_PROBE_CONNECT' });
  });

  it('health/dns: any answer but SERVFAIL proves a live server; a closed UDP port fails at once', async () => {
    const ok = await udp((q) => dnsAnswer(q, 'REFUSED'));
    await networkProbe(req('dns', ok.port));
    const sf = await udp((q) => dnsAnswer(q, 'SERVFAIL'));
    await assert.rejects(networkProbe(req('dns', sf.port)), { code: 'ERR_HEALTH_PROBE_BAD_ANSWER' });
    const junk = await udp(() => Buffer.from([1, 2, 3]));
    await assert.rejects(networkProbe(req('dns', junk.port)), { code: 'ERR_HEALTH_PROBE_BAD_ANSWER' });
    // bind and close a UDP socket to get a port nobody answers on
    const gone = createSocket('udp4');
    await new Promise<void>((r) => gone.bind(0, '127.0.0.1', () => r()));
    const port = gone.address().port;
    await new Promise<void>((r) => gone.close(() => r()));
    await assert.rejects(networkProbe(req('dns', port)), { code: 'ERR_HEALTH_PROBE_CONNECT' });
  });

  it('health/dns: an answer with another id is ignored until the probe is aborted', async () => {
    const other = await udp((q) => {
      const b = Buffer.from(dnsAnswer(q, 'NOERROR'));
      b.writeUInt16BE((b.readUInt16BE(0) + 1) & 0xffff, 0);
      return b;
    });
    const ac = new AbortController();
    const p = networkProbe(req('dns', other.port, { signal: ac.signal }));
    // wait until the server has answered once, then give up as the checker's timeout would
    for (let i = 0; i < 200 && other.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(other.seen.length, 1);
    ac.abort(new Error('timeout'));
    await assert.rejects(p, { code: 'ERR_HEALTH_PROBE_CONNECT' });
  });

  it('health: probes leave from the prober zone address (localAddress)', async () => {
    const h = await http(200, '127.0.3.1');
    await networkProbe(
      req('http', h.port, {
        localAddress: '127.0.1.1',
        target: { ...req('http', 0).target, host: '127.0.3.1', port: h.port },
      }),
    );
    assert.deepEqual(h.seen, ['127.0.1.1 /healthz']);
    const d = await udp((q) => dnsAnswer(q, 'NOERROR'), '127.0.3.1');
    await networkProbe(
      req('dns', d.port, {
        localAddress: '127.0.2.1',
        target: { ...req('dns', 0).target, host: '127.0.3.1', port: d.port },
      }),
    );
    assert.deepEqual(d.seen, ['127.0.2.1']);
    const seen: string[] = [];
    const t = createTcpServer((s) => {
      seen.push(s.remoteAddress ?? '');
      s.destroy();
    });
    const a = await listenOn(t, '127.0.3.1', 0, 'tcp');
    closers.push(() => closeServer(t));
    await networkProbe(
      req('tcp', a.port, {
        localAddress: '127.0.4.1',
        target: { ...req('tcp', 0).target, host: '127.0.3.1', port: a.port },
      }),
    );
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seen, ['127.0.4.1']);
  });
});
