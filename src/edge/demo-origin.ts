/**
 * The built-in demo origin `multizone up` puts behind each zone's edge: a few static files
 * with ETag, Last-Modified and Cache-Control, answering conditional requests with 304.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type Clock, systemClock } from '../core/clock.ts';
import { closeServer, listenOn } from '../core/listen.ts';
import { clientNotModified } from './freshness.ts';
import { formatHttpDate } from './http-date.ts';

interface DemoFile {
  type: string;
  cacheControl?: string;
  surrogateKey?: string;
  body: Buffer;
}

/** The demo files (path → file). */
export function demoFiles(): Map<string, DemoFile> {
  const text = (s: string) => Buffer.from(s);
  const filler = (n: number, seed: string) => Buffer.from(seed.repeat(Math.ceil(n / seed.length)).slice(0, n));
  return new Map<string, DemoFile>([
    [
      '/index.html',
      {
        type: 'text/html; charset=utf-8',
        cacheControl: 'public, max-age=60, stale-while-revalidate=30, stale-if-error=600',
        surrogateKey: 'pages',
        body: text(
          `<!doctype html><title>multizone demo</title><link rel=stylesheet href=/style.css><h1>multizone edge demo</h1><script src=/app.js></script>\n${'<!-- padding -->\n'.repeat(80)}`,
        ),
      },
    ],
    [
      '/style.css',
      {
        type: 'text/css',
        cacheControl: 'public, max-age=300',
        surrogateKey: 'assets',
        body: filler(4096, 'body{font-family:sans-serif;margin:2em}h1{color:#246}\n'),
      },
    ],
    [
      '/app.js',
      {
        type: 'application/javascript',
        cacheControl: 'public, max-age=300',
        surrogateKey: 'assets',
        body: filler(8192, 'console.log("multizone");\n'),
      },
    ],
    ['/news.json', { type: 'application/json', cacheControl: 'no-cache', body: text('{"news":["hello"]}') }],
    // no Cache-Control: freshness is heuristic, from Last-Modified
    ['/hello.txt', { type: 'text/plain', body: text('hello from the demo origin\n') }],
    ['/1k.bin', { type: 'application/octet-stream', cacheControl: 'public, max-age=3600', body: filler(1024, 'x') }],
    [
      '/100k.bin',
      { type: 'application/octet-stream', cacheControl: 'public, max-age=3600', body: filler(100 * 1024, 'y') },
    ],
  ]);
}

export interface DemoOrigin {
  server: Server;
  host: string;
  port: number;
  url: string;
  /** Requests the origin has served (to show what the edge saves it). */
  requests(): number;
  close(): Promise<void>;
}

/** Starts the demo origin. Last-Modified is one day before start, so heuristic freshness is ~2.4 h. */
export async function startDemoOrigin(opts: { host: string; port: number; clock?: Clock }): Promise<DemoOrigin> {
  const clock = opts.clock ?? systemClock;
  const lastModified = formatHttpDate(clock.wallTime() - 86_400_000);
  const files = demoFiles();
  const etags = new Map(
    [...files].map(([p, f]) => [p, `"${createHash('sha1').update(f.body).digest('hex').slice(0, 16)}"`]),
  );
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    req.resume();
    const path = (req.url ?? '/').split('?')[0]!;
    const f = files.get(path === '/' ? '/index.html' : path);
    if (!f || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(f ? 405 : 404, { 'content-type': 'text/plain', 'content-length': 10 });
      res.end(f ? 'method no\n' : 'not found\n');
      return;
    }
    const headers: Record<string, string> = {
      'content-type': f.type,
      etag: etags.get(path === '/' ? '/index.html' : path)!,
      'last-modified': lastModified,
    };
    if (f.cacheControl) headers['cache-control'] = f.cacheControl;
    if (f.surrogateKey) headers['surrogate-key'] = f.surrogateKey;
    if (clientNotModified(req.headers, headers)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers['content-length'] = String(f.body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : f.body);
  });
  const a = await listenOn(server, opts.host, opts.port, 'demo origin');
  return {
    server,
    host: a.host,
    port: a.port,
    url: `http://${a.host}:${a.port}`,
    requests: () => count,
    close: () => closeServer(server),
  };
}
