import { createServer, type Server } from 'node:http';
import { closeServer, listenOn } from '../core/listen.ts';

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
      shard: req.headers['x-multizone-shard'] ?? null,
      epoch: req.headers['x-multizone-epoch'] ?? null,
      routedBy: req.headers['x-multizone-zone'] ?? null,
    });
    // drain any request body before answering so keep-alive stays usable
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-multizone-served-by': opts.zone,
      });
      res.end(body);
    });
  });
  const a = await listenOn(server, opts.host, opts.port, `${opts.zone} app`);
  return { server, host: a.host, port: a.port, close: () => closeServer(server) };
}
