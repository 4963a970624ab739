/**
 * The distributed shape end to end: four zones, each with its own PostgreSQL schema, its own
 * NATS connection and its own Replication (as four `multizone zone` processes would run),
 * over JetStream. Writes converge, lag is measured through the log, a killed zone's
 * unshipped writes come back after failover and either apply or lock, nothing is lost.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect } from 'nats';
import pg from 'pg';
import { systemClock } from '../../../src/core/clock.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { compensationStatus, JetStreamLog, Replication, rpoAtFailure } from '../../../src/replication/index.ts';
import { MemoryFence, PgStore, resourcePolicies } from '../../../src/store/index.ts';
import { natsUrl, pgUrl, reachable } from '../store/services.ts';
import { storeTestTopology } from '../store/store.contract.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const topology = storeTestTopology();
const fence = new MemoryFence(topology.initialOwners());
const run = Math.floor(Math.random() * 1e9).toString(36);
const zones = new Map<string, { store: PgStore; log: JetStreamLog; repl: Replication }>();
let pool: pg.Pool | undefined;
let up = false;

before(async () => {
  up = (await reachable('postgres')) && (await reachable('nats'));
  if (!up) return;
  pool = new pg.Pool({ connectionString: pgUrl(), max: 12 });
  for (const zone of ZONES) {
    const store = await PgStore.open({
      zone,
      topology,
      fence,
      policies: resourcePolicies(topology, fence),
      clock: systemClock,
      connection: pool,
      schema: `mzd_${run}_${zone.replace('-', '_')}`,
    });
    const log = await JetStreamLog.connect({ servers: natsUrl(), prefix: `MZD${run}`, clock: systemClock });
    const repl = new Replication({ topology, stores: new Map([[zone, store]]), log, clock: systemClock, pollMs: 10 });
    await repl.start();
    zones.set(zone, { store, log, repl });
  }
});

after(async () => {
  for (const { repl } of zones.values()) await repl.stop();
  const any = zones.get('sh-a');
  if (any) await any.log.deleteStreams(ZONES);
  for (const { store, log } of zones.values()) {
    await log.close();
    await store.dropSchema();
    await store.close();
  }
  await pool?.end();
});

async function eventually(what: string, fn: () => Promise<boolean>, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await systemClock.sleep(20);
  }
  assert.fail(`timed out: ${what}`);
}

const shardOf = (k: string) => fnv1a(k) % topology.config.shards.count;
async function write(key: string, value: unknown, zone = fence.owner(shardOf(key))) {
  const shard = shardOf(key);
  return zones
    .get(zone)!
    .repl.storeFor(zone)
    .put({ resource: 'profiles', key, shard, epoch: fence.epoch(shard), value });
}

test('replication (PostgreSQL + JetStream, one process per zone): converge, lag through the log, compensation after a kill', async (t) => {
  if (!up) return t.skip('PostgreSQL or NATS not reachable');
  for (let i = 0; i < 40; i++) await write(`d${i}`, i);
  await eventually('all zones caught up', async () => {
    for (const z of ZONES) if ((await zones.get(z)!.repl.lagFor(z)) !== 0) return false;
    return true;
  });
  for (const z of ZONES)
    for (let i = 0; i < 40; i++)
      assert.equal((await zones.get(z)!.store.get('profiles', `d${i}`))?.value, i, `${z} d${i}`);

  // kill gz-a right after writes it acknowledged; its shards move to sh-b, which writes some of the same keys
  const dead = 'gz-a';
  const mine = Array.from({ length: 60 }, (_, i) => `k${i}`).filter((k) => fence.owner(shardOf(k)) === dead);
  await zones.get(dead)!.repl.stop();
  for (const k of mine) await write(k, 'acked-in-gz-a', dead); // the store takes them; nothing ships
  const peers = ZONES.filter((z) => z !== dead).map((z) => zones.get(z)!.store);
  const snap = await rpoAtFailure(zones.get(dead)!.store, peers, systemClock);
  assert.equal(snap.count, mine.length);
  fence.moveAll(dead, 'sh-b');
  const contested = mine.slice(0, Math.ceil(mine.length / 2));
  for (const k of contested) await write(k, 'written-by-sh-b');
  // gz-a's own view of its lag: the log says nobody has its writes
  assert.equal(await zones.get(dead)!.repl.lagFor(dead), mine.length);
  const returnedAt = systemClock.now();
  await zones.get(dead)!.repl.start();
  await eventually('compensation done', async () => (await compensationStatus(snap, peers)).pending === 0);
  const wrt = systemClock.now() - returnedAt;
  const s = await compensationStatus(snap, peers);
  console.log(
    `# drill (PostgreSQL + JetStream): ${dead} failed with RPO ${snap.count} writes / ${snap.windowMs.toFixed(0)} ms; ` +
      `returned, WRT ${wrt.toFixed(0)} ms: ${s.applied} applied, ${s.locked} locked, lost ${s.lost}`,
  );
  assert.deepEqual(s, {
    total: mine.length,
    applied: mine.length - contested.length,
    locked: contested.length,
    pending: 0,
    lost: 0,
  });
  await eventually('locked everywhere', async () => {
    for (const z of ZONES)
      for (const k of contested) if (!(await zones.get(z)!.store.get('profiles', k))?.locked) return false;
    return true;
  });
  const conflicts = await zones.get('bj-a')!.repl.conflicts();
  assert.equal(conflicts.length, contested.length);
});

test('replication (PostgreSQL + JetStream): anti-entropy between processes repairs what the log never carried', async (t) => {
  if (!up) return t.skip('PostgreSQL or NATS not reachable');
  const a = zones.get('bj-a')!;
  // a record only bj-a holds, as if the batch carrying it had been lost on every link
  const shard = 3;
  await a.store.repair([
    {
      resource: 'profiles',
      key: 'only-in-bj-a',
      shard,
      cls: 'sharded',
      value: 'repaired',
      deleted: false,
      vv: { 'sh-a': 99 },
      version: 99,
      origin: 'sh-a',
      time: 0,
      locked: false,
      candidates: [],
    },
  ]);
  assert.equal(await zones.get('gz-a')!.store.get('profiles', 'only-in-bj-a'), undefined);
  // bj-a initiates with the zones sorting after it: gz-a, sh-a, sh-b (every other zone here)
  const r = await a.repl.antiEntropy();
  assert.ok(r.repaired >= 3);
  for (const z of ZONES)
    assert.equal((await zones.get(z)!.store.get('profiles', 'only-in-bj-a'))?.value, 'repaired', z);
  const again = await a.repl.antiEntropy();
  assert.equal(again.shards, 0);
});

test('replication (PostgreSQL + JetStream): cross-process anti-entropy pages a shard bigger than one NATS message', async (t) => {
  if (!up) return t.skip('PostgreSQL or NATS not reachable');
  const a = zones.get('bj-a')!;
  // 40 records × 40 kB = 1.6 MB in one shard, held only by bj-a: one message per shard could not carry it
  const shard = 5;
  const pad = 'q'.repeat(40_000);
  await a.store.repair(
    Array.from({ length: 40 }, (_, i) => ({
      resource: 'profiles',
      key: `big-${i}`,
      shard,
      cls: 'sharded' as const,
      value: { pad, i },
      deleted: false,
      vv: { 'sh-b': 1000 + i },
      version: 1000 + i,
      origin: 'sh-b',
      time: 0,
      locked: false,
      candidates: [],
    })),
  );
  // watch every anti-entropy request and every reply on the wire
  const spy = await connect({ servers: natsUrl() });
  let largest = 0;
  let messages = 0;
  const watch = (subject: string) =>
    spy.subscribe(subject, {
      callback: (_e, m) => {
        messages++;
        largest = Math.max(largest, m.data.length);
      },
    });
  const subs = [watch(`MZD${run}.ae.>`), watch('_INBOX.>')];
  await spy.flush();
  try {
    const r = await a.repl.antiEntropy();
    assert.ok(r.repaired >= 40 * 3, `repaired ${r.repaired}`);
    for (const z of ZONES)
      assert.deepEqual((await zones.get(z)!.store.get('profiles', 'big-39'))?.value, { pad, i: 39 }, z);
    // gz-a asks bj-a's side too (its name sorts after): pages travel both ways
    const b = await zones.get('gz-a')!.log.remotePeer('bj-a').shardRecords(shard);
    assert.equal(b.filter((x) => x.key.startsWith('big-')).length, 40);
    await spy.flush();
    const limit = spy.info?.max_payload ?? 1024 * 1024;
    assert.ok(messages > 4, `saw ${messages} messages`);
    assert.ok(largest <= limit, `largest message ${largest} > ${limit}`);
  } finally {
    for (const s of subs) s.unsubscribe();
    await spy.close();
  }
});
