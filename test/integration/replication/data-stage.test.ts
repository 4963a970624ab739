import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { main } from '../../../src/cli/main.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

let cluster: RunningCluster;
let dir: string;
let base: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mz-data-'));
  const topology = parseTopology(
    testTopologyYaml({
      roles: ['app', 'router'],
      extra: `shards:
  count: 16
resources:
  profiles: { class: sharded }
store:
  dataDir: ${join(dir, 'data')}
replication:
  pollMs: 5
  antiEntropyMs: 0
`,
    }),
    'data-test.yaml',
  );
  cluster = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
  base = `http://127.0.0.1:${cluster.control.port}`;
});

after(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function getJson(path: string): Promise<Record<string, unknown>> {
  const r = await request(`${base}${path}`);
  return (await r.body.json()) as Record<string, unknown>;
}

async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
    await cluster.services.clock.sleep(10);
  }
  assert.fail('timed out');
}

test('cli/data: multizone up runs a store per zone and replicates between them; GET /api/replication shows the links', async () => {
  const data = cluster.services.data;
  assert.deepEqual([...data.stores.keys()].sort(), ['bj-a', 'gz-a', 'sh-a', 'sh-b']);
  const shardMap = cluster.services.shardmap.map;
  const key = 'alice';
  const shard = fnv1a(key) % 16;
  const owner = shardMap.owner(shard).zone;
  const epoch = shardMap.owner(shard)?.epoch ?? 1;
  // the zone's router takes its lease shortly after start; the store's fence follows the shard map
  if (shardMap) await until(async () => shardMap.canWrite(owner, shard, epoch));
  await data.stores.get(owner)!.put({ resource: 'profiles', key, shard, epoch, value: { name: 'Alice' } });
  await until(async () => {
    for (const s of data.stores.values()) if ((await s.get('profiles', key))?.value === undefined) return false;
    return true;
  });
  const j = await getJson('/api/replication');
  assert.equal(j.log, 'memory');
  assert.equal((j.links as unknown[]).length, 12);
  assert.equal(typeof cluster.services.data.replication.lagFor, 'function');
  await until(async () =>
    ((await getJson('/api/replication')).links as { records: number }[]).every((l) => l.records === 0),
  );
  const metrics = await (await request(`${base}/metrics`)).body.text();
  assert.match(metrics, /mz_replication_lag_records\{origin="sh-a",dest="sh-b"\} 0/);
});

test('cli/conflicts: lists a locked record and resolves it by picking a zone', async () => {
  const data = cluster.services.data;
  const sh = data.stores.get('sh-b')!;
  const shard = 5;
  // concurrent versions as if from gz-a's and bj-a's logs, applied under cursor names of their own so
  // the real per-origin cursors stay untouched
  await sh.apply('injected-gz-a', [
    {
      seq: 1,
      origin: 'gz-a',
      shard,
      epoch: 1,
      cls: 'sharded',
      resource: 'profiles',
      key: 'bob',
      value: 'from gz-a',
      deleted: false,
      vv: { 'gz-a': 1 },
      version: 1,
      time: 0,
    },
  ]);
  await sh.apply('injected-bj-a', [
    {
      seq: 1,
      origin: 'bj-a',
      shard,
      epoch: 1,
      cls: 'sharded',
      resource: 'profiles',
      key: 'bob',
      value: 'from bj-a',
      deleted: false,
      vv: { 'bj-a': 1 },
      version: 1,
      time: 0,
    },
  ]);
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
  assert.equal(await main(['conflicts', '--control', base], io), 0);
  assert.match(out.join('\n'), /profiles\/bob/);
  assert.match(out.join('\n'), /gz-a v1/);
  out.length = 0;
  assert.equal(await main(['conflicts', 'resolve', 'profiles/bob', '--pick', 'nowhere', '--control', base], io), 1);
  assert.match(out.join('\n'), /ERR_STORE_CONFLICT_PICK/);
  out.length = 0;
  assert.equal(await main(['conflicts', 'resolve', 'profiles/bob', '--pick', 'gz-a', '--control', base], io), 0);
  assert.match(out.join('\n'), /resolved profiles\/bob/);
  await until(async () => {
    for (const s of data.stores.values()) if ((await s.get('profiles', 'bob'))?.value !== 'from gz-a') return false;
    return true;
  });
  assert.deepEqual((await getJson('/api/conflicts')).conflicts, []);
  assert.equal((await sh.get('profiles', 'bob'))?.locked, false);
});

test('cli/data: a drill fails a zone and restores it; the report has RPO, WRT and 0 lost', async () => {
  const data = cluster.services.data;
  const shardMap = cluster.services.shardmap.map;
  const zone = 'bj-a';
  const keys = Array.from({ length: 64 }, (_, i) => `drill-${i}`).filter(
    (k) => shardMap.owner(fnv1a(k) % 16).zone === zone,
  );
  assert.ok(keys.length > 0);
  const snapshotBefore = await data.outage.failZone(zone);
  assert.equal(snapshotBefore.count, 0);
  await data.outage.restoreZone(zone, snapshotBefore, 5000);
  const epochOf = (k: string) => shardMap.owner(fnv1a(k) % 16)?.epoch ?? 1;
  if (shardMap) await until(async () => shardMap.canWrite(zone, fnv1a(keys[0]!) % 16, epochOf(keys[0]!)));
  // its shipper stalls (as before a crash), the store still acknowledges writes: the RPO window
  await data.replication.stopZone(zone);
  for (const k of keys)
    await data.stores
      .get(zone)!
      .put({ resource: 'profiles', key: k, shard: fnv1a(k) % 16, epoch: epochOf(k), value: 1 });
  const snap = await data.outage.failZone(zone);
  assert.ok(snap.count > 0);
  const report = await data.outage.restoreZone(zone, snap, 10_000);
  console.log(
    `# drill (embedded, SQLite + in-process log): ${zone} failed with RPO ${report.rpo.count} writes / ${report.rpo.windowMs.toFixed(0)} ms; ` +
      `returned, WRT ${report.wrtMs?.toFixed(0)} ms: ${report.applied} applied, ${report.locked} locked, lost ${report.lost}`,
  );
  assert.equal(report.lost, 0);
  assert.equal(report.rpo.count, snap.count);
  assert.equal(report.applied + report.locked, snap.count);
  assert.notEqual(report.wrtMs, undefined);
});
