import { createServer, type Server } from 'node:http';
import { closeServer, listenOn } from '../core/listen.ts';
import { HEADERS } from '../shardmap/index.ts';
import type { AppRole } from './services.ts';

/**
 * The built-in demo app of a zone: answers every request with the zone that served it and
 * the routing headers the router added, so routing is visible end to end.
 */
export async function startEchoApp(opts: { zone: string; host: string; port: number }): Promise<{
  server: Server;
  host: string;
  port: number;
  close(): Promise<void>;
}> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({
      zone: opts.zone,
      method: req.method,
      path: req.url,
      shard: req.headers[HEADERS.shard] ?? null,
      epoch: req.headers[HEADERS.epoch] ?? null,
      routedBy: req.headers[HEADERS.zone] ?? null,
    });
    // drain any request body before answering so keep-alive stays usable
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        [HEADERS.servedBy]: opts.zone,
      });
      res.end(body);
    });
  });
  const a = await listenOn(server, opts.host, opts.port, `${opts.zone} app`);
  return { server, host: a.host, port: a.port, close: () => closeServer(server) };
}

/** The built-in echo app as the runtime's default app role. */
export const echoAppRole: AppRole = {
  name: 'echo',
  start: (ctx) => startEchoApp({ zone: ctx.zone.name, host: ctx.listen.host, port: ctx.listen.port }),
};
