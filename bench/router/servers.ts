// Child process for the router bench: `servers.ts app|ours|bare`. Prints one JSON line with
// its ports, then serves until killed. Run under taskset by router.bench.ts.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { systemClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createMetrics } from '../../src/core/metrics.ts';
import { createRouter, RouterWorkers } from '../../src/router/index.ts';
import { LeaseKeeper, MemoryKv, ShardMap, shardForKey } from '../../src/shardmap/index.ts';
import { parseTopology } from '../../src/topology/index.ts';
import { RequestSigner } from '../../src/trust/index.ts';

const mode = process.argv[2];
const appPorts = (process.argv[3] ?? '').split(',').map(Number);
/** `ours` only: processes per router (router.workers). */
const workers = Number(process.argv[4] ?? 1);

const listen = (s: ReturnType<typeof createServer>) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

const BODY = JSON.stringify({ zone: 'z', ok: true, pad: 'x'.repeat(200) });

if (mode === 'app') {
  // two apps (zone a and zone b): a small JSON answer, like the echo app
  const ports: number[] = [];
  for (const zone of ['a', 'b']) {
    const s = createServer((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(BODY),
        'x-zone': zone,
      });
      res.end(BODY);
    });
    s.keepAliveTimeout = 60_000;
    ports.push(await listen(s));
  }
  console.log(JSON.stringify({ ports }));
} else if (mode === 'ours') {
  const topology = parseTopology(`
apex: shop.test
regions: { r: {} }
zones:
  zone-a: { region: r, core: true, backups: [zone-b], listen: { router: 127.0.0.1:0, app: 127.0.0.1:0 } }
  zone-b: { region: r, backups: [zone-a], listen: { router: 127.0.0.1:0, app: 127.0.0.1:0 } }
services: { api.shop.test: { role: router, policy: p } }
policies: { p: { default: [zone-a, zone-b] } }
shards: { count: 64, key: [{ header: x-user-id }] }
health: { enabled: false }
`);
  const kv = new MemoryKv();
  const pools: RouterWorkers[] = [];
  const signer = new RequestSigner({ secret: randomBytes(32), zone: 'bench', clock: systemClock });
  const ports: Record<string, number> = {};
  const routers: Record<string, number> = {};
  for (const [i, zone] of ['zone-a', 'zone-b'].entries()) {
    const map = await new ShardMap(kv, 64, systemClock).start();
    if (i === 0) await map.init(topology.initialOwners(), topology.coreZone);
    await map.reload();
    const keeper = new LeaseKeeper({ kv, zone, clock: systemClock, leaseMs: 60_000, renewMs: 10_000 });
    await keeper.start();
    map.attachLease(keeper);
    const r = createRouter({
      topology,
      zone,
      map,
      signer: signer.as(zone),
      resolve: (n) =>
        n === 'app'
          ? { host: '127.0.0.1', port: appPorts[i]! }
          : routers[n] !== undefined
            ? { host: '127.0.0.1', port: routers[n]! }
            : undefined,
    });
    const hp = await r.listen('127.0.0.1', 0);
    routers[zone] = hp.port;
    ports[zone] = hp.port;
    if (workers > 1) {
      const w = new RouterWorkers({
        zone,
        topology,
        router: r,
        also: () => [],
        map,
        signer: signer.as(zone),
        resolve: (n) =>
          n === 'app' ? { host: '127.0.0.1', port: appPorts[i]! } : { host: '127.0.0.1', port: routers[n] ?? 0 },
        isolated: () => [],
        count: workers,
        clock: systemClock,
        logger: silentLogger,
        metrics: createMetrics(),
      });
      pools.push(w);
    }
    if (i === 1) {
      // users owned by zone-a (served locally at zone-a) and by zone-b (one hop from zone-a)
      const owners = topology.initialOwners();
      const find = (z: string) => {
        for (let k = 0; ; k++) if (owners[shardForKey(`u${k}`, 64)] === z) return `u${k}`;
      };
      // workers start once both routers listen: each knows the other's address
      for (const w of pools) await w.start();
      console.log(JSON.stringify({ entry: ports['zone-a'], localUser: find('zone-a'), remoteUser: find('zone-b') }));
    }
  }
} else if (mode === 'bare') {
  // the peer: a bare node:http proxy with an undici Pool, the same header hygiene, twice (for the hop)
  const HOP = new Set([
    'connection',
    'keep-alive',
    'transfer-encoding',
    'te',
    'trailer',
    'upgrade',
    'proxy-connection',
  ]);
  const copy = (h: Record<string, string | string[] | undefined>) => {
    const out: Record<string, string | string[]> = {};
    for (const k in h) if (h[k] !== undefined && !HOP.has(k)) out[k] = h[k]!;
    return out;
  };
  const proxy = (upstream: number) => {
    const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
    const s = createServer((req: IncomingMessage, res: ServerResponse) => {
      pool
        .request({ path: req.url ?? '/', method: req.method as 'GET', headers: copy(req.headers), body: null })
        .then((r) => {
          res.writeHead(r.statusCode, copy(r.headers));
          r.body.pipe(res);
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
    s.keepAliveTimeout = 30_000;
    return s;
  };
  const second = proxy(appPorts[1]!);
  const secondPort = await listen(second);
  const local = await listen(proxy(appPorts[0]!));
  const hop = await listen(proxy(secondPort));
  console.log(JSON.stringify({ local, hop }));
}
process.on('SIGINT', () => process.exit(0));
