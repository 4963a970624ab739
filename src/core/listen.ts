import { createServer, type Server } from 'node:net';
import { coreErrors } from './errors.ts';

/** Binds a server; EADDRINUSE/EADDRNOTAVAIL become ERR_CORE_LISTEN naming what and where. */
export function listenOn(
  server: Server,
  host: string,
  port: number,
  what: string,
): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const hint =
        e.code === 'EADDRINUSE'
          ? ' (another process holds this port; stop it or change the port in the topology)'
          : e.code === 'EADDRNOTAVAIL'
            ? ' (this address is not on this machine; on macOS add loopback aliases: sudo ifconfig lo0 alias 127.0.1.1)'
            : '';
      reject(
        coreErrors.ERR_CORE_LISTEN(`${what}: cannot listen on ${host}:${port}: ${e.code ?? e.message}${hint}`, {
          cause: e,
          details: { host, port, what },
        }),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
    });
  });
}

/** Closes a server and its idle and active connections. */
export function closeServer(server: Server & { closeAllConnections?: () => void }): Promise<void> {
  return new Promise((r) => {
    server.close(() => r());
    server.closeAllConnections?.();
  });
}

/**
 * Serves `server` on one more address (an anycast service address): a plain listener that
 * hands each accepted socket to `server` as its own listener would, so HTTP, TLS and the
 * edge's lean path see one server, one set of connections. Closing it stops accepting there.
 */
export async function alsoListen(
  server: Server,
  host: string,
  port: number,
  what: string,
): Promise<{ server: Server; host: string; port: number }> {
  const extra = createServer();
  forwardConnections(extra, server);
  const a = await listenOn(extra, host, port, what);
  return { server: extra, ...a };
}

/** Hands every connection `from` accepts to `to`, as `to`'s own listener would take it. */
export function forwardConnections(from: Server, to: Server): void {
  from.on('connection', (socket) => to.emit('connection', socket));
}

/**
 * Serves a listening socket another process bound (a worker gets its zone's listeners this
 * way and shares their accept queue), as listen() on an address would.
 */
export function listenOnHandle(server: Server, handle: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(handle, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
