/** An HTTPDNS stand-in that forwards to a real server or injects faults: timeouts, 5xx, wrong answers. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'undici';
import { closeServer, listenOn } from '../../../src/core/listen.ts';

export type FaultMode = 'ok' | 'timeout' | '500' | 'wrong-ips' | 'garbage' | 'missing-host';

export interface FaultServer {
  url: string;
  mode: FaultMode;
  /** Requests seen per path ('/d', '/sign_d', '/report'). */
  hits: Map<string, number>;
  /** Query strings of /d and /sign_d requests, in order. */
  queries: URLSearchParams[];
  close(): Promise<void>;
}

export async function startFaultServer(upstream: string, mode: FaultMode = 'ok'): Promise<FaultServer> {
  const held: ServerResponse[] = [];
  const fs: FaultServer = {
    url: '',
    mode,
    hits: new Map(),
    queries: [],
    close: async () => {
      for (const r of held) r.destroy();
      await closeServer(server);
    },
  };
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    fs.hits.set(path, (fs.hits.get(path) ?? 0) + 1);
    if (path === '/d' || path === '/sign_d') fs.queries.push(new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    switch (fs.mode) {
      case 'timeout':
        held.push(res); // never answer
        return;
      case '500':
        res.writeHead(500).end('{"code":"InternalError"}');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"dns": [ this is not json');
        return;
      case 'wrong-ips':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ dns: [{ host: 'api.shop.test', ips: ['not-an-ip', '300.1.1.1'], ttl: 60 }] }));
        return;
      case 'missing-host':
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ client_ip: '1.1.1.1', dns: [] }));
        return;
      default: {
        const r = await request(`${upstream}${req.url}`, {
          method: req.method as 'GET',
          headers: { 'content-type': String(req.headers['content-type'] ?? 'application/json') },
          body: req.method === 'POST' ? body : undefined,
        });
        const text = await r.body.text();
        res.writeHead(r.statusCode, { 'content-type': 'application/json' }).end(text);
      }
    }
  });
  const a = await listenOn(server, '127.0.0.1', 0, 'fault server');
  fs.url = `http://127.0.0.1:${a.port}`;
  return fs;
}
