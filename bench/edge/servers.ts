/**
 * Processes the edge bench starts (one per invocation, pinned by the bench with taskset):
 *   origin PORT            the shared origin (1 KB and 100 KB objects, max-age=3600)
 *   bare PORT              node:http serving the same bytes from a Map (the ceiling)
 *   edge PORT ORIGIN_URL [TOKEN] [node|wN]
 *                          our edge in front of the origin (admin token for /.mz/stats;
 *                          `node`: the lean hit path off, every request on node:http;
 *                          `w2`: edge.workers 2, this process and a worker on one socket)
 * Each prints "listening PORT" when ready.
 */
import { createServer } from 'node:http';
import { systemClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createMetrics } from '../../src/core/metrics.ts';
import { createEdge, EdgeWorkers } from '../../src/edge/index.ts';
import { topologySchema } from '../../src/topology/index.ts';

export const OBJECTS: Record<string, Buffer> = {
  '/1k': Buffer.alloc(1024, 'a'),
  '/100k': Buffer.alloc(100 * 1024, 'b'),
};
const HEADERS = { 'content-type': 'application/octet-stream', 'cache-control': 'public, max-age=3600', etag: '"v1"' };

const [mode, portArg, origin, token, path] = process.argv.slice(2);
const port = Number(portArg);

if (mode === 'origin' || mode === 'bare') {
  const server = createServer((req, res) => {
    const body = OBJECTS[req.url ?? ''];
    if (!body) {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    res.writeHead(200, { ...HEADERS, 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
} else if (mode === 'edge') {
  const config = topologySchema.shape.edge.parse({ leanHits: path !== 'node' });
  const edge = createEdge({ zone: 'bench', config, origin: origin!, token });
  await edge.listen('127.0.0.1', port);
  const count = /^w(\d+)$/.exec(path ?? '')?.[1];
  if (count)
    await new EdgeWorkers({
      edge,
      count: Number(count),
      start: {
        zone: 'bench',
        config,
        origin: origin!,
        dynamic: undefined,
        token: token ?? '',
        hosts: [],
        logLevel: 'silent',
      },
      zoneEdges: () => new Map(),
      clock: systemClock,
      logger: silentLogger,
      metrics: createMetrics(),
      onRequests: () => {},
    }).start();
  console.log(`listening ${port}`);
} else {
  console.error('usage: servers.ts origin|bare|edge PORT [ORIGIN_URL]');
  process.exit(2);
}

// exit cleanly on SIGTERM so `node --cpu-prof` can write its profile
process.on('SIGTERM', () => process.exit(0));
