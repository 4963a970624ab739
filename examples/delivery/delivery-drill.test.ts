/**
 * `multizone drill --workload delivery` against the delivery service as real processes: four
 * zones' services and databases, Redis, `multizone up` with table replication (as
 * delivery.test.ts starts them, under this file's own database names and Redis prefix). A short
 * drill kills gz-a through the control API: no acknowledged order or transition is lost, no
 * dish is oversold, and the report has its delivery section.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { drillOutput } from '../../src/cli/cmd-drill.ts';
import { main } from '../../src/cli/main.ts';
import type { DrillReport } from '../../src/drill/index.ts';
import { dropZoneDatabase, PG_ADMIN, pgAvailable } from '../../test/integration/replication/tables-support.ts';
import { startCli, stopCli } from '../../test/support/cli.ts';
import { freePort } from '../../test/support/net.ts';
import { deliveryTopologyYaml, kill, redisAvailable, startService, ZONES } from './delivery-support.ts';
import { DELIVERY_TABLES_YAML } from './schema.ts';

type Zone = (typeof ZONES)[number];
/** Short leases, as delivery.test.ts has them: a sold-out dish's unspent batches come back within the drill. */
const QUOTA = { batchFraction: 0.1, minBatch: 2, lowWater: 2, leaseMs: 2000, skewMs: 100, graceMs: 4000 };

const pgUp = await pgAvailable();
const redisUp = await redisAvailable();

describe('delivery drill: the delivery workload against four zones as real processes', {
  skip: !pgUp ? 'no PostgreSQL' : !redisUp && 'no Redis',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-delivery-drill-'));
  const keyFile = join(dir, 'app-key');
  const tag = `delivery_drill_${randomBytes(3).toString('hex')}`;
  const dbName = (z: string) => `${tag}_${z.replace(/-/g, '_')}`;
  const dbUrl = (z: string) => `${PG_ADMIN.replace(/\/[^/]*$/, '')}/${dbName(z)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  const services: ChildProcess[] = [];
  const apps: Record<string, number> = {};
  const routers: Record<string, number> = {};
  const edges: Record<string, number> = {};
  const EDGE_TOKEN = 'edge-t0ken';
  let cli: Awaited<ReturnType<typeof startCli>> | undefined;

  before(async () => {
    writeFileSync(keyFile, `${'5d'.repeat(32)}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'cluster-secret'), `${'c3'.repeat(32)}\n`, { mode: 0o600 });
    await admin.connect();
    await redis.connect();
    for (const z of ZONES) {
      await admin.query(`CREATE DATABASE ${dbName(z)}`);
      apps[z] = await freePort();
      routers[z] = await freePort();
      edges[z] = await freePort();
    }
    for (const z of ZONES)
      services.push(
        await startService(
          {
            DELIVERY_ZONE: z,
            DELIVERY_KEY_FILE: keyFile,
            DELIVERY_PG: dbUrl(z),
            DELIVERY_ROUTER: `http://127.0.0.1:${routers[z]}`,
            DELIVERY_REDIS_PREFIX: tag,
            DELIVERY_QUOTA: JSON.stringify(QUOTA),
            // a menu change purges the zone's edge, where the drill looks at the menu too
            DELIVERY_EDGE: `http://127.0.0.1:${edges[z]}`,
            DELIVERY_EDGE_TOKEN: EDGE_TOKEN,
          },
          apps[z]!,
        ),
      );
    const file = join(dir, 'topology.yaml');
    const tables = `replication:\n  tables:\n    url: '${PG_ADMIN.replace(/\/[^/]*$/, '')}/${tag}_{zone_}'\n    tables: ${DELIVERY_TABLES_YAML}\n`;
    writeFileSync(
      file,
      deliveryTopologyYaml({ apps, routers, edges, edgeToken: EDGE_TOKEN, keyFile, shards: 64, extra: tables }),
    );
    cli = await startCli(['up', '--config', file, '--json'], { cwd: dir });
  });

  after(async () => {
    if (cli) await stopCli(cli.child);
    for (const s of services) await kill(s);
    for (const z of ZONES) await dropZoneDatabase(admin, dbName(z));
    await admin.end();
    const keys = await redis.keys(`${tag}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivery drill: gz-a killed under orders, transitions, limited dishes and menu edits: 0 lost, 0 oversold', async (t) => {
    const killed: Zone = 'gz-a';
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      [
        'drill',
        '--zone',
        killed,
        '--workload',
        'delivery',
        '--control',
        cli!.info.control,
        '--consistency',
        'available',
        '--duration',
        '8',
        '--rps',
        '80',
        '--writes',
        '0.6',
        '--users',
        '60',
        '--read-back-timeout',
        '60',
        '--json',
      ],
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    assert.equal(out.length, 1, err.join('\n'));
    const r = JSON.parse(out[0]!) as DrillReport;
    const d = r.delivery;
    assert.ok(d, 'the report has a delivery section');
    t.diagnostic(drillOutput(r, false));
    assert.equal(r.workload, 'delivery');
    assert.ok(d.orders.placed > 4, `orders placed: ${d.orders.placed}`);
    assert.ok(d.orders.transitions > 0, 'orders moved along');
    assert.ok(d.readBack.writes > 0);
    assert.equal(d.lost.writes, 0, JSON.stringify(d.lost.examples));
    assert.equal(r.lost, 0);
    assert.equal(d.oversold, 0, JSON.stringify(d.dishes));
    for (const x of d.dishes) assert.ok(x.stored !== null && x.stored <= x.stock, JSON.stringify(x));
    assert.ok(d.menu.edits > 1, 'the menu was edited during the drill');
    // looked at through every zone's router and edge; after the heal every one served the last edit
    assert.deepEqual(Object.keys(d.menu.byZone).sort(), [...ZONES.flatMap((z) => [z, `${z} edge`])].sort());
    assert.notEqual(d.menu.lastMs, null, JSON.stringify(d.menu));
    assert.notEqual(d.menu.afterHealMs, null, JSON.stringify(d.menu));
    assert.ok(r.users.affected > 0, `users homed in ${killed}`);
    assert.equal(r.restore?.restored, true);
    // the exit code follows the goals (RTO, lost, oversold); the figures are the report's
    assert.equal(code, r.goal.met ? 0 : 1);
    assert.match(drillOutput(r, false), /^delivery \(/m);
  });
});
