/**
 * Bulk conflict resolution (`multizone conflicts resolve --all --pick-zone Z`, POST
 * /api/conflicts/resolve-all): real conflicts — a zone cut off writes a record, its shard
 * moves and the new owner writes it too — in four SQLite zones over the in-process log,
 * each process's control API on a real socket; in one process, and in two processes behind
 * GET /api/cluster.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { main } from '../../../src/cli/main.ts';
import { ControlServer } from '../../../src/control/index.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { createMetrics } from '../../../src/core/metrics.ts';
import { fnv1a, seededRandom } from '../../../src/core/random.ts';
import { MemoryLog, Replication, registerReplicationRoutes } from '../../../src/replication/index.ts';
import { MemoryFence, resourcePolicies, SqliteStore, type Store } from '../../../src/store/index.ts';
import { parseTopology, type Topology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];

function topologyWithTwoLockedResources(): Topology {
  return parseTopology(
    testTopologyYaml({
      extra: `shards:
  count: 16
resources:
  profiles: { class: sharded }
  carts: { class: sharded }
`,
    }),
    'resolve-all-test.yaml',
  );
}

interface Proc {
  zones: string[];
  repl: Replication;
  control: ControlServer;
  url: string;
}

/** Four zones split over `procs` processes (one Replication and one control API each), one log. */
async function makeProcs(procs: string[][], seed: number) {
  const clock = new ManualClock();
  const topology = topologyWithTwoLockedResources();
  const fence = new MemoryFence(topology.initialOwners());
  const policies = resourcePolicies(topology, fence);
  const dir = mkdtempSync(join(tmpdir(), 'mz-resolve-all-'));
  const log = new MemoryLog({ clock, random: seededRandom(seed), wan: { delayMs: 5 } });
  const stores = new Map<string, Store>();
  for (const zone of ZONES)
    stores.set(zone, new SqliteStore({ zone, topology, fence, policies, clock, file: join(dir, `${zone}.db`) }));
  const ps: Proc[] = [];
  for (const zones of procs) {
    const repl = new Replication({
      topology,
      stores: new Map(zones.map((z) => [z, stores.get(z)!])),
      log,
      clock,
      pollMs: 20,
      antiEntropyMs: 0,
      pruneMs: 0,
    });
    await repl.start();
    const control = new ControlServer(createMetrics());
    registerReplicationRoutes(control, { topology, replication: repl, log });
    const { port } = await control.listen('127.0.0.1', 0);
    ps.push({ zones, repl, control, url: `http://127.0.0.1:${port}` });
  }
  const shardOf = (key: string) => fnv1a(key) % topology.config.shards.count;
  const procOf = (zone: string) => ps.find((p) => p.zones.includes(zone))!;
  const write = async (resource: string, key: string, zone: string, value: unknown) => {
    const shard = shardOf(key);
    await procOf(zone)
      .repl.storeFor(zone)
      .put({ resource, key, shard, epoch: fence.epoch(shard), value });
  };
  const settle = async (what: string, cond: () => Promise<boolean>) => {
    for (let t = 0; t < 5000; t += 10) {
      if (await cond()) return;
      await clock.advanceAsync(10, 5);
    }
    assert.fail(`did not settle: ${what}`);
  };
  return {
    ps,
    stores,
    settle,
    /** Lets replication run for `ms` of the manual clock. */
    pass: (ms: number) => clock.advanceAsync(ms, 5),
    /**
     * Locks resource/key in every zone with one version from `a` and one from `b` (`a@key`,
     * `b@key`); `bWrites` > 1 gives b's candidate a higher version number than a's.
     */
    async conflict(resource: string, key: string, a: string, b: string, bWrites = 1) {
      const shard = shardOf(key);
      if (fence.owner(shard) !== a) fence.move(shard, a);
      log.isolate(a, ZONES);
      await write(resource, key, a, `${a}@${key}`);
      fence.move(shard, b);
      for (let i = 0; i < bWrites; i++) await write(resource, key, b, `${b}@${key}`);
      log.rejoin(a, ZONES);
    },
    /** Every zone's open conflicts in full (candidates, versions): equal before and after means nothing was written. */
    async snapshot(): Promise<string> {
      const out: unknown[] = [];
      for (const z of ZONES) out.push(await stores.get(z)!.conflicts());
      return JSON.stringify(out);
    },
    /** Conflict ids open in each zone's store, sorted. */
    async openIn(zone: string): Promise<string[]> {
      return (await stores.get(zone)!.conflicts()).map((c) => c.id).sort();
    },
    async close() {
      for (const p of ps) {
        await p.control.close();
        await p.repl.stop();
      }
      await log.close();
      for (const s of stores.values()) await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

type Cluster = Awaited<ReturnType<typeof makeProcs>>;

async function lockedEverywhere(c: Cluster, ids: string[]): Promise<boolean> {
  for (const z of ZONES) if ((await c.openIn(z)).join() !== [...ids].sort().join()) return false;
  return true;
}

async function valueEverywhere(c: Cluster, id: string, value: string): Promise<boolean> {
  const [resource, key] = id.split('/') as [string, string];
  for (const z of ZONES) {
    const r = await c.stores.get(z)!.get(resource, key);
    if (r?.locked !== false || r.value !== value) return false;
  }
  return true;
}

function cli() {
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
  return {
    io,
    text: () => lines.join('\n'),
    json: () => JSON.parse(lines.find((l) => l.startsWith('{'))!) as { resolved: string[]; skipped: { id: string }[] },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await request(`${url}/api/conflicts/resolve-all`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
}

test('cli/conflicts: resolve --all: one process; dry run, --resource, skip without a candidate, then every zone holds the picked version', async (t) => {
  const c = await makeProcs([ZONES], 31);
  t.after(() => c.close());
  const [p] = c.ps as [Proc];
  await c.conflict('profiles', 'c0', 'sh-b', 'bj-a');
  await c.conflict('profiles', 'c1', 'bj-a', 'sh-b');
  await c.conflict('profiles', 'c2', 'gz-a', 'sh-b');
  await c.conflict('profiles', 'c3', 'sh-a', 'bj-a'); // no version from sh-b
  await c.conflict('carts', 'x1', 'sh-b', 'gz-a');
  const all = ['carts/x1', 'profiles/c0', 'profiles/c1', 'profiles/c2', 'profiles/c3'];
  await c.settle('five conflicts locked in every zone', () => lockedEverywhere(c, all));
  const base = ['conflicts', 'resolve', '--all', '--control', p.url];
  const before = await c.snapshot();

  // dry run: lists what would be picked, writes nothing
  let o = cli();
  assert.equal(await main([...base, '--pick-zone', 'sh-b', '--dry-run', '--json'], o.io), 1);
  assert.deepEqual(o.json().resolved, ['carts/x1', 'profiles/c0', 'profiles/c1', 'profiles/c2']);
  assert.deepEqual(
    o.json().skipped.map((s) => s.id),
    ['profiles/c3'],
  );
  o = cli();
  assert.equal(await main([...base, '--pick-zone', 'sh-b', '--dry-run'], o.io), 1);
  assert.match(o.text(), /would resolve 4 conflict\(s\) by picking sh-b's version/);
  assert.match(o.text(), /profiles\/c3: no version from sh-b/);
  await c.pass(500);
  assert.equal(await c.snapshot(), before, 'a dry run wrote nothing');

  // one resource only
  o = cli();
  assert.equal(await main([...base, '--pick-zone', 'sh-b', '--resource', 'carts'], o.io), 0, o.text());
  assert.match(o.text(), /resolved 1 conflict\(s\) of carts/);
  await c.settle('carts/x1 resolved everywhere', () => valueEverywhere(c, 'carts/x1', 'sh-b@x1'));
  await c.settle('profiles still locked', () => lockedEverywhere(c, all.slice(1)));

  // every conflict with a version from sh-b; c3 is skipped and reported, not guessed
  o = cli();
  assert.equal(await main([...base, '--pick-zone', 'sh-b', '--json'], o.io), 1);
  assert.deepEqual(o.json().resolved, ['profiles/c0', 'profiles/c1', 'profiles/c2']);
  assert.deepEqual(
    o.json().skipped.map((s) => s.id),
    ['profiles/c3'],
  );
  await c.settle('only c3 left', () => lockedEverywhere(c, ['profiles/c3']));
  for (const k of ['c0', 'c1', 'c2'])
    assert.ok(await valueEverywhere(c, `profiles/${k}`, `sh-b@${k}`), `profiles/${k} holds sh-b's version everywhere`);
  const untouched = await c.stores.get('gz-a')!.get('profiles', 'c3');
  assert.deepEqual(untouched?.candidates.map((x) => x.value).sort(), ['bj-a@c3', 'sh-a@c3']);

  o = cli();
  assert.equal(await main([...base, '--pick-zone', 'bj-a'], o.io), 0, o.text());
  await c.settle('no conflict left', () => lockedEverywhere(c, []));
  assert.ok(await valueEverywhere(c, 'profiles/c3', 'bj-a@c3'));
  assert.deepEqual((await post(p.url, { pickZone: 'sh-b' })).json, { resolved: [], skipped: [], dryRun: false });
});

test('cli/conflicts: resolve --all: an unknown zone or resource is refused with its code; usage errors exit 64', async (t) => {
  const c = await makeProcs([ZONES], 32);
  t.after(() => c.close());
  const url = c.ps[0]!.url;
  await c.conflict('profiles', 'u0', 'sh-a', 'gz-a');
  await c.settle('locked', () => lockedEverywhere(c, ['profiles/u0']));

  const o = cli();
  assert.equal(await main(['conflicts', 'resolve', '--all', '--pick-zone', 'mars', '--control', url], o.io), 1);
  assert.match(o.text(), /\(ERR_REPL_PICK_ZONE_UNKNOWN\)/);
  const mars = await post(url, { pickZone: 'mars' });
  assert.equal(mars.status, 400);
  assert.equal(mars.json.error, 'ERR_REPL_PICK_ZONE_UNKNOWN');
  assert.equal((await post(url, { pickZone: 'sh-a', resource: 'nope' })).json.error, 'ERR_STORE_UNKNOWN_RESOURCE');
  assert.equal((await post(url, { pickZone: 'sh-a', dryrun: true })).json.error, 'ERR_CONTROL_BAD_REQUEST');
  assert.equal((await post(url, {})).json.error, 'ERR_CONTROL_BAD_REQUEST');

  const usage = async (args: string[]) => main(['conflicts', ...args, '--control', url], cli().io);
  assert.equal(await usage(['resolve', '--all']), 64);
  assert.equal(await usage(['resolve', 'profiles/u0', '--all', '--pick-zone', 'sh-a']), 64);
  assert.equal(await usage(['resolve', '--all', '--pick', 'sh-a']), 64);
  assert.equal(await usage(['resolve', '--pick-zone', 'sh-a']), 64);
  assert.equal(await usage(['resolve', '--all', '--pick-newest']), 64);
  assert.ok(await lockedEverywhere(c, ['profiles/u0']), 'nothing was resolved');
});

test('cli/conflicts: resolve --all: across processes from GET /api/cluster, each conflict resolved once (dead processes left out)', async (t) => {
  const c = await makeProcs(
    [
      ['sh-a', 'sh-b'],
      ['bj-a', 'gz-a'],
    ],
    33,
  );
  t.after(() => c.close());
  const [a, b] = c.ps as [Proc, Proc];
  a.control.route('GET', '/api/cluster', () => ({
    processes: [
      { id: 'p1', zones: a.zones, control: a.url, alive: true },
      { id: 'p2', zones: b.zones, control: `${b.url}/`, alive: true },
      { id: 'p3', zones: [], control: 'http://127.0.0.1:1', alive: false },
    ],
  }));
  for (const k of ['d0', 'd1', 'd2']) await c.conflict('profiles', k, 'sh-a', 'gz-a');
  await c.conflict('profiles', 'd3', 'sh-b', 'bj-a');
  const all = ['profiles/d0', 'profiles/d1', 'profiles/d2', 'profiles/d3'];
  await c.settle('locked in both processes', () => lockedEverywhere(c, all));
  const before = await c.snapshot();
  // each process sees every conflict (locked in its own zones too)
  for (const p of c.ps) assert.equal((await p.repl.conflicts()).length, 4);

  let o = cli();
  assert.equal(
    await main(
      ['conflicts', 'resolve', '--all', '--pick-zone', 'gz-a', '--dry-run', '--json', '--control', a.url],
      o.io,
    ),
    1,
  );
  const plan = o.json() as { resolved: string[]; skipped: { id: string }[]; processes: string[] };
  assert.deepEqual(plan.processes, [a.url, b.url]);
  assert.deepEqual(plan.resolved, ['profiles/d0', 'profiles/d1', 'profiles/d2']);
  assert.deepEqual(
    plan.skipped.map((s) => s.id),
    ['profiles/d3'],
  );
  await c.pass(500);
  assert.equal(await c.snapshot(), before, 'a dry run wrote nothing');

  o = cli();
  assert.equal(
    await main(['conflicts', 'resolve', '--all', '--pick-zone', 'gz-a', '--json', '--control', a.url], o.io),
    1,
  );
  assert.deepEqual(o.json().resolved, ['profiles/d0', 'profiles/d1', 'profiles/d2']);
  assert.deepEqual(
    o.json().skipped.map((s) => s.id),
    ['profiles/d3'],
  );
  // resolved in one process only: two resolutions of one record in two zones would lock it again
  await c.settle('only d3 left, in every zone', () => lockedEverywhere(c, ['profiles/d3']));
  for (const k of ['d0', 'd1', 'd2'])
    assert.ok(await valueEverywhere(c, `profiles/${k}`, `gz-a@${k}`), `profiles/${k} holds gz-a's version`);
  for (const p of c.ps)
    assert.deepEqual(
      (await p.repl.conflicts()).map((x) => x.id),
      ['profiles/d3'],
    );
});

test('cli/conflicts: resolve --all run again before the first replicated skips what it resolved instead of locking it anew', async (t) => {
  const c = await makeProcs([ZONES], 34);
  t.after(() => c.close());
  const url = c.ps[0]!.url;
  await c.conflict('profiles', 'r0', 'sh-b', 'gz-a');
  await c.conflict('profiles', 'r1', 'bj-a', 'gz-a');
  await c.settle('locked', () => lockedEverywhere(c, ['profiles/r0', 'profiles/r1']));
  const first = await post(url, { pickZone: 'gz-a' });
  assert.deepEqual(first.json.resolved, ['profiles/r0', 'profiles/r1']);
  // no time passes: the other zones are still locked, the resolving zone is not
  const again = await post(url, { pickZone: 'gz-a' });
  assert.deepEqual(again.json.resolved, []);
  assert.deepEqual(
    (again.json.skipped as { id: string; reason: string }[]).map((s) => s.id),
    ['profiles/r0', 'profiles/r1'],
  );
  await c.settle('no conflict left', () => lockedEverywhere(c, []));
  await c.pass(500);
  assert.ok(await lockedEverywhere(c, []), 'not locked again');
  for (const k of ['r0', 'r1']) assert.ok(await valueEverywhere(c, `profiles/${k}`, `gz-a@${k}`));
});

test('cli/conflicts: resolve --pick vN takes a version as `multizone conflicts` prints it', async (t) => {
  const c = await makeProcs([ZONES], 37);
  t.after(() => c.close());
  const [p] = c.ps as [Proc];
  await c.conflict('profiles', 'k1', 'sh-b', 'bj-a', 3);
  await c.settle('one conflict locked in every zone', () => lockedEverywhere(c, ['profiles/k1']));
  const list = cli();
  assert.equal(await main(['conflicts', '--control', p.url], list.io), 0, list.text());
  const shown = /bj-a (v\d+)/.exec(list.text())?.[1];
  const other = /sh-b (v\d+)/.exec(list.text())?.[1];
  assert.ok(shown && other && shown !== other, list.text());
  const o = cli();
  assert.equal(
    await main(['conflicts', 'resolve', 'profiles/k1', '--pick', shown, '--control', p.url], o.io),
    0,
    o.text(),
  );
  await c.settle('bj-a’s version everywhere', () => valueEverywhere(c, 'profiles/k1', 'bj-a@k1'));
});
