import dgram from 'node:dgram';
import net from 'node:net';
import { type Clock, systemClock, type Timer } from '../core/clock.ts';
import { coreErrors, isPlatformError } from '../core/errors.ts';
import { closeServer, listenOn } from '../core/listen.ts';
import { type Logger, silentLogger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import type { Steering } from '../steering/index.ts';
import type { Topology } from '../topology/index.ts';
import type { DnsConfig, DnsStage, VersionedState } from './chain.ts';
import { createDnsHandler, type DnsHandler } from './handler.ts';
import { publishDnsStats } from './metrics.ts';
import { frame, TcpFramer } from './wire/tcp-framer.ts';

export interface DnsServerOptions {
  topology: Topology;
  host: string;
  /** 0 = any free port (the same one for UDP and TCP). */
  port: number;
  steering: Steering;
  state?: VersionedState;
  logger?: Logger;
  /** Registry for mz_dns_* metrics; omitted = not published. */
  metrics?: Registry;
  clock?: Clock;
  /** The zone this server belongs to (the metrics' `zone` label). */
  zone?: string;
  /** Default: the topology's dns: section. */
  config?: DnsConfig;
  stages?: readonly DnsStage[];
  /** The lean stage on or off (see DnsHandlerOptions.leanPath). */
  leanPath?: boolean;
  /** Serve sockets another process bound (a DNS worker) instead of binding host:port. */
  attach?: { udp: dgram.Socket; tcp: net.Server };
}

/** A running authoritative server: UDP and TCP on one port. */
export interface DnsServer {
  host: string;
  port: number;
  readonly handler: DnsHandler;
  /** The UDP socket and TCP server, for the zone's DNS workers. */
  readonly sockets: { udp: dgram.Socket; tcp: net.Server };
  close(): Promise<void>;
}

/**
 * The UDP sockets' address "lookup": every reply goes to the address a query came from
 * (`rinfo.address`, an IP literal from the kernel), so there is nothing to resolve. Node's
 * default runs dns.lookup on it for every send — an IP check and a deferred callback per reply.
 * (A DNS worker's sockets are rebuilt by Node from the handle it is sent, with the default.)
 */
function literalAddress(address: string, family: unknown, cb: (e: null, a: string, f: number) => void): void {
  cb(null, address, family === 6 || address.includes(':') ? 6 : 4);
}

/** A slow reader that lets this much pile up in its socket is cut off. */
const MAX_TCP_BACKLOG = 1 << 20;
/** Port-0 binds retried when TCP finds UDP's port taken. */
const BIND_ATTEMPTS = 20;

function bindUdp(sock: dgram.Socket, host: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(
        coreErrors.ERR_CORE_LISTEN(`${what}: cannot bind UDP ${host}:${port}: ${e.code ?? e.message}`, {
          cause: e,
          details: { host, port, what },
        }),
      );
    sock.once('error', onError);
    sock.bind({ address: host, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock.address().port);
    });
  });
}

const closeUdp = (s: dgram.Socket) =>
  new Promise<void>((r) => {
    try {
      s.close(() => r());
    } catch {
      r();
    }
  });

/**
 * Binds UDP, then TCP on the port UDP got; with port 0, a port TCP finds taken is given up
 * and both are tried again on a new one.
 */
async function bindPair(
  host: string,
  port: number,
  what: string,
): Promise<{ udp: dgram.Socket; tcp: net.Server; bound: { host: string; port: number } }> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', lookup: literalAddress });
    const got = await bindUdp(udp, host, port, what);
    const tcp = net.createServer();
    try {
      return { udp, tcp, bound: await listenOn(tcp, host, got, `${what} (tcp)`) };
    } catch (e) {
      await closeUdp(udp);
      const code = isPlatformError(e) ? (e.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
      if (port === 0 && code === 'EADDRINUSE' && attempt < BIND_ATTEMPTS) continue;
      throw e;
    }
  }
}

/**
 * Starts the authoritative server. With port 0, UDP binds first and TCP then listens on
 * the port UDP got; if TCP finds it taken, both are retried on a new port.
 */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const zoneName = opts.zone ?? 'default';
  const handler = createDnsHandler({ ...opts, clock, logger, ...(opts.zone ? { serverId: opts.zone } : {}) });
  const config = opts.config ?? opts.topology.config.dns;
  const { stats } = handler;
  const host = opts.host === 'localhost' ? '127.0.0.1' : opts.host;
  const what = `dns ${zoneName}`;
  const sockets = new Set<net.Socket>();

  const onUdp = (udp: dgram.Socket) => (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const reply = handler.handle(msg, 'udp', rinfo.address, rinfo.port);
    if (reply !== null) udp.send(reply, rinfo.port, rinfo.address);
  };

  const onTcp = (sock: net.Socket) => {
    stats.tcpConnections++;
    stats.tcpOpen++;
    sockets.add(sock);
    sock.setNoDelay(true);
    const framer = new TcpFramer();
    const address = sock.remoteAddress ?? '';
    const port = sock.remotePort ?? 0;
    const onIdle = () => {
      stats.tcpIdleClosed++;
      sock.destroy();
    };
    let timer: Timer = clock.setTimer(config.tcpIdleTimeoutMs, onIdle);
    sock.on('data', (chunk: Buffer) => {
      timer.cancel();
      timer = clock.setTimer(config.tcpIdleTimeoutMs, onIdle);
      const frames = framer.push(chunk);
      if (frames === 'garbage') {
        stats.tcpClosedGarbage++;
        stats.reject('tcp-frame');
        sock.destroy();
        return;
      }
      if (frames.length === 0) return;
      const out: Buffer[] = [];
      // pipelined queries are answered in order; each reply carries its query's id
      for (const f of frames) {
        const reply = handler.handle(f, 'tcp', address, port);
        if (reply !== null) out.push(frame(reply));
      }
      if (out.length === 0) return;
      sock.write(out.length === 1 ? out[0]! : Buffer.concat(out));
      if (sock.writableLength > MAX_TCP_BACKLOG) sock.destroy();
    });
    sock.on('error', () => {}); // resets and the like: the close handler tidies up
    sock.on('close', () => {
      timer.cancel();
      stats.tcpOpen--;
      sockets.delete(sock);
    });
  };

  // a worker serves the sockets its zone's process bound; otherwise bind a UDP/TCP pair here
  const {
    udp: udpSock,
    tcp: tcpServer,
    bound,
  } = opts.attach
    ? { ...opts.attach, bound: { host, port: opts.attach.udp.address().port } }
    : await bindPair(host, opts.port, what);
  tcpServer.on('connection', onTcp);
  udpSock.on('message', onUdp(udpSock));
  udpSock.on('error', (err) => logger.warn({ err, zone: zoneName }, 'dns: udp socket error'));
  try {
    // a bigger receive buffer rides out bursts; the kernel may cap it (net.core.rmem_max)
    udpSock.setRecvBufferSize(4 << 20);
  } catch {
    /* keep the default */
  }
  const unpublish = opts.metrics ? publishDnsStats(opts.metrics, zoneName, stats) : () => {};
  logger.debug({ zone: zoneName, host: bound.host, port: bound.port }, 'dns listening');

  let closed = false;
  return {
    host: bound.host,
    port: bound.port,
    handler,
    sockets: { udp: udpSock, tcp: tcpServer },
    async close() {
      if (closed) return;
      closed = true;
      unpublish();
      for (const s of sockets) s.destroy();
      await Promise.all([closeUdp(udpSock), closeServer(tcpServer)]);
    },
  };
}
