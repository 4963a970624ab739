/** What the delivery example's tests share: the four-zone topology, a poll, starting a service, signing. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { request } from 'undici';
import { dropZoneDatabase, PG_ADMIN } from '../../test/integration/replication/tables-support.ts';
import { freePort } from '../../test/support/net.ts';
import { DELIVERY_TABLES_YAML } from './schema.ts';

const HERE = new URL('.', import.meta.url).pathname;
export const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'] as const;

/** A point inside each zone's geo-fence (lat,lng): where its restaurants are. */
export const FENCE_POINT: Record<(typeof ZONES)[number], string> = {
  'sh-b': '30.27,120.15', // Hangzhou: sh-b's fence, inside east-china's box, listed first
  'sh-a': '31.23,121.47', // Shanghai
  'bj-a': '39.90,116.40', // Beijing
  'gz-a': '23.13,113.26', // Guangzhou
};

/** The topology the tests and start.sh use: four zones with external apps, four fences, the delivery resources. */
export function deliveryTopologyYaml(o: {
  apps: Record<string, number>;
  routers: Record<string, number>;
  /** Each zone's edge port; with them, `edge.adminToken` is `edgeToken`. */
  edges?: Record<string, number>;
  edgeToken?: string;
  keyFile: string;
  shards: number;
  extra?: string;
}): string {
  const zone = (z: string, region: string, core: boolean, backups: string) => `  ${z}:
    region: ${region}
    core: ${core}
    backups: ${backups}
    listen: { router: 127.0.0.1:${o.routers[z]}${o.edges ? `, edge: 127.0.0.1:${o.edges[z]}` : ''} }
    app: { upstream: 'http://127.0.0.1:${o.apps[z]}', health: /healthz, keyFile: '${o.keyFile}' }`;
  return `name: delivery
apex: delivery.test
regions: { east: {}, north: {}, south: {} }
zones:
${zone('sh-a', 'east', true, '[sh-b, bj-a, gz-a]')}
${zone('sh-b', 'east', false, '[sh-a, gz-a, bj-a]')}
${zone('bj-a', 'north', false, '[sh-a, sh-b, gz-a]')}
${zone('gz-a', 'south', false, '[sh-b, sh-a, bj-a]')}
services:
  api.delivery.test: { role: router, policy: nearest }
${o.edges ? '  www.delivery.test: { role: edge, policy: nearest }\n' : ''}policies:
  nearest: { default: [[sh-a, sh-b], bj-a, gz-a] }
${SHARDS_AND_RESOURCES(o.shards)}
control: { listen: 127.0.0.1:0 }
health: { intervalMs: 300, timeoutMs: 250, fall: 3, rise: 2 }
failover:
  after: 300
  leaseMs: 1200
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 100, timeoutMs: 250 }
${o.edges ? `edge: { adminToken: '${o.edgeToken ?? ''}' }\n` : ''}${o.extra ?? ''}`;
}

/** The shards and resources sections (the same in topology.yaml). */
export const SHARDS_AND_RESOURCES = (count: number) => `shards:
  count: ${count}
  key: [{ header: x-user-id }]
  # an order is placed where its restaurant is: the x-geo point's fence gives the shard
  geo: [{ header: x-geo }]
  fences:
    hangzhou: { zone: sh-b, geometry: { type: Polygon, coordinates: [[[119.5, 29.8], [120.8, 29.8], [120.8, 30.6], [119.5, 30.6], [119.5, 29.8]]] } }
    east-china: { zone: sh-a, geometry: { type: Polygon, coordinates: [[[114, 27], [123, 27], [123, 35], [114, 35], [114, 27]]] } }
    north-china: { zone: bj-a, geometry: { type: Polygon, coordinates: [[[105, 35], [135, 35], [135, 54], [105, 54], [105, 35]]] } }
    south-china: { zone: gz-a, geometry: { type: Polygon, coordinates: [[[97, 18], [120, 18], [120, 27], [97, 27], [97, 18]]] } }
  mappings:
    order: # order ids carry the shard of their restaurant's fence: o12-…
      from: [{ path: 2, prefix: /api/orders }, { header: x-order-id }]
      pattern: '^o(?<shard>\\d{1,5})-'
    mark: # the remote marker names the zone that wrote: bj-a.o12-….3
      from: [{ cookie: mz_mark }]
      pattern: '^(?<zone>[a-z][a-z0-9-]*)\\.'
resources:
  dishes: { class: global, paths: [/api/dishes] }
  menus: { class: global, paths: [/api/menus] }
  quota: { class: global, paths: [/api/quota] }
  orders: { class: sharded, paths: [/api/orders], key: order, consistency: available }
  # a user's orders: read in the zone the user entered, from its replica
  order-views: { class: local, paths: [/api/my-orders] }
  # the same read in the zone a remote marker names (the service relays to it while its replica lags)
  writer-reads: { class: local, paths: [/api/at-writer], key: mark }`;

/** Polls `f` every 50 ms until it returns a value (errors count as "not yet"), up to `ms`. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts one zone's service (through the repository's TypeScript loader) and resolves once /healthz answers. */
export async function startService(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', join(HERE, '../../bin/ts.mjs'), join(HERE, 'service.ts')], {
    env: { ...process.env, ...env, DELIVERY_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout.resume();
  child.stderr.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (c) => reject(new Error(`${env.DELIVERY_ZONE}'s service exited ${c}: ${err}`))),
  );
  await Promise.race([
    exited,
    waitFor(`${env.DELIVERY_ZONE}'s service`, async () => {
      const r = await request(`http://127.0.0.1:${port}/healthz`);
      await r.body.dump();
      return r.statusCode === 200 ? true : undefined;
    }),
  ]);
  exited.catch(() => {});
  Object.assign(child, { stderrTail: () => err });
  return child;
}

/** SIGKILLs a child and waits for its exit (no-op if it already ended). */
export async function kill(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGKILL');
  await gone;
}

/**
 * Headers a router would add, signed with `key` as docs/app-contract.md says: for tests that
 * call one service directly, playing its zone's router.
 */
export function signedHeaders(
  key: Buffer,
  o: { method: string; target: string; zone: string; body?: string; mz: Record<string, string> },
): Record<string, string> {
  const t = String(Date.now());
  const n = randomBytes(16).toString('hex');
  const mz = Object.fromEntries(Object.entries(o.mz).map(([k, v]) => [`x-multizone-${k}`, v]));
  const lines = Object.keys(mz)
    .sort()
    .map((k) => `${k}:${mz[k]}\n`)
    .join('');
  const s = createHmac('sha256', key)
    .update(`MZ-AUTH-1\n${o.method}\n${o.target}\n${o.zone}\n${t}\n${n}\n${lines}`)
    .update(
      createHash('sha256')
        .update(o.body ?? '')
        .digest('hex'),
    )
    .digest('hex');
  return { ...mz, 'x-multizone-auth': `v1 z=${o.zone} t=${t} n=${n} s=${s}` };
}

/** True when Redis answers on 127.0.0.1:6379; in CI (CI=true) a missing server is a failure, not a skip. */
export async function redisAvailable(): Promise<boolean> {
  const ok = await new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: 6379 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (!ok && process.env.CI === 'true') throw new Error('Redis is needed at 127.0.0.1:6379 in CI');
  return ok;
}

/**
 * One test's four-zone delivery cluster on the machine's servers: its folder (app key, cluster
 * secret, topology), its databases and Redis prefix (`<name>_<random>`, so tests never share
 * data), its ports, and how it is written and removed again.
 */
export class DeliveryFixture {
  readonly dir: string;
  readonly keyFile: string;
  /** Database name prefix and Redis key prefix. */
  readonly tag: string;
  readonly admin = new pg.Client({ connectionString: PG_ADMIN });
  readonly redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  readonly apps: Record<string, number> = {};
  readonly routers: Record<string, number> = {};
  readonly edges: Record<string, number> = {};
  readonly edgeToken = 'edge-t0ken';

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `mz-${name}-`));
    this.keyFile = join(this.dir, 'app-key');
    this.tag = `${name.replace(/-/g, '_')}_${randomBytes(3).toString('hex')}`;
  }

  dbName(z: string): string {
    return `${this.tag}_${z.replace(/-/g, '_')}`;
  }

  dbUrl(z: string): string {
    return `${PG_ADMIN.replace(/\/[^/]*$/, '')}/${this.dbName(z)}`;
  }

  /** The keys, a database per zone, free ports for every zone's app, router and edge. */
  async prepare(): Promise<void> {
    writeFileSync(this.keyFile, `${'5d'.repeat(32)}\n`, { mode: 0o600 });
    writeFileSync(join(this.dir, 'cluster-secret'), `${'c3'.repeat(32)}\n`, { mode: 0o600 });
    await this.admin.connect();
    await this.redis.connect();
    for (const z of ZONES) {
      await this.admin.query(`CREATE DATABASE ${this.dbName(z)}`);
      this.apps[z] = await freePort();
      this.routers[z] = await freePort();
      this.edges[z] = await freePort();
    }
  }

  /** A zone's service environment (its database, router, edge, Redis prefix) over `extra`. */
  serviceEnv(z: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      DELIVERY_ZONE: z,
      DELIVERY_KEY_FILE: this.keyFile,
      DELIVERY_PG: this.dbUrl(z),
      DELIVERY_ROUTER: `http://127.0.0.1:${this.routers[z]}`,
      DELIVERY_REDIS_PREFIX: this.tag,
      // a menu change purges the zone's edge
      DELIVERY_EDGE: `http://127.0.0.1:${this.edges[z]}`,
      DELIVERY_EDGE_TOKEN: this.edgeToken,
      ...extra,
    };
  }

  /** Writes the topology (the services as external apps, their tables replicated); its path. */
  writeTopology(): string {
    const file = join(this.dir, 'topology.yaml');
    const tables = `replication:\n  tables:\n    url: '${PG_ADMIN.replace(/\/[^/]*$/, '')}/${this.tag}_{zone_}'\n    tables: ${DELIVERY_TABLES_YAML}\n`;
    const { apps, routers, edges, edgeToken, keyFile } = this;
    writeFileSync(file, deliveryTopologyYaml({ apps, routers, edges, edgeToken, keyFile, shards: 64, extra: tables }));
    return file;
  }

  /** Drops the databases and Redis keys, removes the folder (the processes are the test's to stop first). */
  async cleanUp(): Promise<void> {
    for (const z of ZONES) await dropZoneDatabase(this.admin, this.dbName(z));
    await this.admin.end();
    const keys = await this.redis.keys(`${this.tag}:*`);
    if (keys.length) await this.redis.del(...keys);
    this.redis.disconnect();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
