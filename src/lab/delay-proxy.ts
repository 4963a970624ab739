import { connect as netConnect, createServer as netCreateServer, type Server, type Socket } from 'node:net';
import type { Clock, Timer } from '../core/clock.ts';

/** The sockets the proxy uses (node:net by default; injectable). */
export interface DelayProxyNet {
  createServer(onConnection: (s: Socket) => void): Server;
  connect(port: number, host: string): Socket;
}

/** Options of a delay proxy: what it listens on, where it forwards, how late. */
export interface DelayProxyOptions {
  listen: { host: string; port: number };
  target: { host: string; port: number };
  /** One-way delay (ms) added in each direction. */
  delayMs: number;
  clock: Clock;
  net?: DelayProxyNet;
}

/** A running delay proxy. */
export interface DelayProxy {
  host: string;
  port: number;
  /** Chunks received and not yet forwarded, over every connection and both directions. */
  held(): number;
  close(): Promise<void>;
}

const nodeNet: DelayProxyNet = {
  createServer: (fn) => netCreateServer({ allowHalfOpen: true }, fn),
  connect: (port, host) => netConnect({ port, host, allowHalfOpen: true }),
};

/** Stop reading a side whose delayed bytes exceed this, resume under a quarter of it. */
const HIGH_WATER = 1 << 20;

/**
 * One direction of a connection: every chunk read from `from` is written to `to` delayMs
 * later, in the order read (the delay is constant and the clock monotonic, so a FIFO is
 * enough); the end of `from` is forwarded after the bytes before it.
 */
class DelayedPipe {
  private readonly queue: { at: number; chunk: Buffer | null }[] = [];
  private bytes = 0;
  private timer: Timer | undefined;
  /** `from` sent its end (now queued or forwarded). */
  ended = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delayMs: number,
    private readonly clock: Clock,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => {
      this.ended = true;
      this.push(null);
    });
  }

  /** Chunks waiting for their time. */
  get held(): number {
    return this.queue.length;
  }

  private push(chunk: Buffer | null): void {
    this.queue.push({ at: this.clock.now() + this.delayMs, chunk });
    if (chunk) {
      this.bytes += chunk.length;
      if (this.bytes > HIGH_WATER) this.from.pause();
    }
    this.flush();
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const now = this.clock.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!;
      if (this.to.destroyed) continue;
      if (chunk === null) this.to.end();
      else {
        this.bytes -= chunk.length;
        this.to.write(chunk);
      }
    }
    if (this.bytes < HIGH_WATER / 4 && this.from.isPaused()) this.from.resume();
    const next = this.queue[0];
    if (next) this.timer = this.clock.setTimer(Math.max(0, next.at - now), () => this.flush());
  }

  cancel(): void {
    this.timer?.cancel();
    this.queue.length = 0;
  }
}

/**
 * A TCP proxy that delays every byte by `delayMs` in each direction and keeps each
 * connection's byte order: the lab's WAN link (there is no netem). A connection whose
 * target refuses or drops is closed on the client side too, so the client reconnects.
 */
export async function startDelayProxy(o: DelayProxyOptions): Promise<DelayProxy> {
  const net = o.net ?? nodeNet;
  const pipes = new Set<DelayedPipe>();
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(o.target.port, o.target.host);
    const up = new DelayedPipe(client, upstream, o.delayMs, o.clock);
    const down = new DelayedPipe(upstream, client, o.delayMs, o.clock);
    const pair = [client, upstream];
    for (const s of pair) sockets.add(s);
    pipes.add(up).add(down);
    const abort = () => {
      up.cancel();
      down.cancel();
      for (const s of pair) s.destroy();
    };
    const closed = () => {
      if (!pair.every((s) => s.destroyed)) return;
      pipes.delete(up);
      pipes.delete(down);
      for (const s of pair) sockets.delete(s);
    };
    // an error, or a side gone without its end (reset, refused), aborts both: a half-forwarded
    // stream is useless. A clean end travels through its pipe like the bytes before it.
    client.on('error', abort);
    upstream.on('error', abort);
    client.on('close', () => {
      if (!up.ended) abort();
      closed();
    });
    upstream.on('close', () => {
      if (!down.ended) abort();
      closed();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listen.port, o.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.listen.port;
  return {
    host: o.listen.host,
    port,
    held: () => [...pipes].reduce((n, p) => n + p.held, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pipes) p.cancel();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
