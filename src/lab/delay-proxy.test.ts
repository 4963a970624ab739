import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../core/clock.ts';
import { type DelayProxy, startDelayProxy } from './delay-proxy.ts';

/** Polls `cond` on the event loop (no wall-clock assertions: only that it happens). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
    if (i > 100) await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`never: ${what}`);
}

/** A few event-loop turns, for "nothing arrived yet" checks. */
async function turns(n = 50): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('lab: the delay proxy', () => {
  let upstream: Server;
  let upstreamPort = 0;
  /** Bytes the upstream received, per connection. */
  const received: Buffer[][] = [];

  before(async () => {
    // an echo server that records what it gets
    upstream = createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      received.push(got);
      s.on('data', (d: Buffer) => {
        got.push(d);
        s.write(d);
      });
      // the end is echoed a little later than the last byte, as a busy host may: the proxy
      // must still forward it (held delayMs like a byte) once the clock moves on
      s.on('end', () => setTimeout(() => s.end(), 300));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as { port: number }).port;
  });
  after(() => new Promise<void>((r) => upstream.close(() => r())));

  const open = async (p: DelayProxy) => {
    const c = connect(p.port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    await new Promise<void>((r) => c.once('connect', () => r()));
    return { c, got };
  };
  const text = (bs: Buffer[]) => Buffer.concat(bs).toString();

  it('lab: holds bytes for delayMs each way by the injected clock, in order', async () => {
    const clock = new ManualClock();
    const p = await startDelayProxy({
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: upstreamPort },
      delayMs: 100,
      clock,
    });
    try {
      const { c, got } = await open(p);
      await until('the upstream connection', () => received.length === 1);
      for (const [i, part] of ['one ', 'two ', 'three'].entries()) {
        c.write(part);
        await until(`chunk ${i} held`, () => p.held() === i + 1);
        clock.advance(10);
      }
      await turns();
      assert.equal(text(received[0]!), '', 'nothing forwarded before its delay');
      clock.advance(69); // t=99; the chunks came at t=0, 10 and 20: due at 100, 110, 120
      await turns();
      assert.equal(text(received[0]!), '');
      clock.advance(1); // t=100: only "one " is due
      await until('the first chunk', () => text(received[0]!) === 'one ');
      clock.advance(20); // t=120: all three
      await until('all three, in order', () => text(received[0]!) === 'one two three');
      // the echo is held on its way back too
      await until('the echo held', () => p.held() > 0);
      await turns();
      assert.equal(text(got), '', 'the reply is delayed as well');
      clock.advance(100);
      await until('the echo, in order', () => text(got) === 'one two three');
      c.destroy();
    } finally {
      await p.close();
    }
  });

  it('lab: keeps a large stream byte for byte, and forwards the end after the bytes', async () => {
    const clock = new ManualClock();
    const p = await startDelayProxy({
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: upstreamPort },
      delayMs: 5,
      clock,
    });
    try {
      const before = received.length;
      const { c, got } = await open(p);
      const data = Buffer.alloc(3 << 20);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
      c.end(data);
      const size = () => got.reduce((n, b) => n + b.length, 0);
      let ended = false;
      c.once('end', () => {
        ended = true;
      });
      // drive the clock until every byte made the round trip (backpressure pauses and resumes)
      // and the end came back: the upstream's end reaches the proxy whenever the host gets to
      // it, maybe after the last byte, and is then held delayMs like a byte, so the clock must
      // keep moving until it arrives (it once stopped after the bytes and the test hung on a
      // busy host). Bounded so a lost end fails instead of hanging.
      for (let i = 0; (size() < data.length || !ended) && i < 50_000; i++) {
        clock.advance(5);
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.ok(ended, `the end came back (got ${size()} of ${data.length} bytes)`);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      assert.equal(sha(Buffer.concat(received[before]!)), sha(data), 'the upstream got every byte in order');
      assert.equal(sha(Buffer.concat(got)), sha(data), 'the client got the echo in order');
    } finally {
      await p.close();
    }
  });

  it('lab: a refused target closes the client connection', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const p = await startDelayProxy({
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port },
      delayMs: 0,
      clock: new ManualClock(),
    });
    try {
      const c: Socket = connect(p.port, '127.0.0.1');
      c.on('error', () => {});
      await new Promise<void>((r) => c.once('close', () => r()));
      assert.equal(p.held(), 0);
    } finally {
      await p.close();
    }
  });
});
