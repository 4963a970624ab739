/**
 * PostgreSQL applies the common batch in SQL (apply_batch) and everything else by reconciling in
 * JavaScript, as SQLite always does: the same seeded batches — new records, descendants,
 * stale and concurrent versions, equal vectors, deletes, redeliveries, every conflict policy —
 * must leave both adapters with the same records and report the same ApplyResults.
 * The seed is printed; SIM_SEED=n replays one run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { type Random, seededRandom } from '../../../src/core/random.ts';
import { type Change, MemoryFence, PgStore, SqliteStore, type Store } from '../../../src/store/index.ts';
import { pgUrl, reachable } from './services.ts';
import { depsFor, storeTestTopology } from './store.contract.ts';

const ORIGINS = ['sh-a', 'sh-b', 'bj-a'];
const DEST = 'gz-a';
const RESOURCES = ['profiles', 'prefs', 'tags'];
const KEYS = 8;

type Vv = Record<string, number>;
const sum = (v: Vv) => Object.values(v).reduce((a, b) => a + b, 0);
const merge = (a: Vv, b: Vv): Vv => {
  const out = { ...a };
  for (const [z, n] of Object.entries(b)) out[z] = Math.max(out[z] ?? 0, n);
  return out;
};

/** Each origin's change log: writes on top of its own last version, often after seeing another zone's. */
function changeLogs(rnd: Random): Map<string, Change[]> {
  const seen = new Map<string, Vv[]>(); // resource/key → every version written so far
  const last = new Map<string, Vv>(); // origin|resource/key → its last version
  const logs = new Map<string, Change[]>(ORIGINS.map((o) => [o, []]));
  for (let i = 0; i < 600; i++) {
    const origin = ORIGINS[rnd.int(ORIGINS.length)]!;
    const resource = RESOURCES[rnd.int(RESOURCES.length)]!;
    const k = rnd.int(KEYS);
    const id = `${resource}/k${k}`;
    const versions = seen.get(id) ?? [];
    let vv: Vv = last.get(`${origin}|${id}`) ?? {};
    // mostly on top of the newest version (the owner writing), sometimes of an older one (concurrent)
    const roll = rnd.next();
    if (roll < 0.8 && versions.length) vv = merge(vv, versions[versions.length - 1]!);
    else if (roll < 0.9 && versions.length) vv = merge(vv, versions[rnd.int(versions.length)]!);
    const equal = roll >= 0.92 && versions.length > 0;
    if (equal) vv = { ...versions[versions.length - 1]! }; // another zone's vector, other content
    if (!equal) vv = { ...vv, [origin]: (vv[origin] ?? 0) + 1 };
    last.set(`${origin}|${id}`, vv);
    versions.push(vv);
    seen.set(id, versions);
    const deleted = rnd.next() < 0.1;
    const log = logs.get(origin)!;
    log.push({
      seq: log.length + 1,
      origin,
      shard: (k * 3) % 16,
      epoch: 1,
      cls: 'sharded',
      resource,
      key: `k${k}`,
      value: deleted ? null : resource === 'tags' ? [`t${rnd.int(4)}`, `${origin}${i}`] : { v: i, by: origin },
      deleted,
      vv,
      version: sum(vv),
      time: 1_700_000_000_000 + i,
    });
  }
  return logs;
}

test('store: PostgreSQL (SQL apply with a JavaScript fallback) and SQLite apply the same batches alike', async (t) => {
  if (!(await reachable('postgres'))) return;
  const seed = process.env.SIM_SEED ? Number(process.env.SIM_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed}`);
  const rnd = seededRandom(seed);
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const dir = mkdtempSync(join(tmpdir(), 'mz-store-diff-'));
  const pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
  const schema = `mzt_diff_${seed.toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
  const sqlite = new SqliteStore({ ...depsFor(DEST, topology, fence), file: join(dir, 'gz-a.db') });
  const postgres: Store = await PgStore.open({ ...depsFor(DEST, topology, fence), connection: pool, schema });
  try {
    const logs = changeLogs(rnd);
    const next = new Map(ORIGINS.map((o) => [o, 0]));
    const delivered = new Map<string, Change[][]>(ORIGINS.map((o) => [o, []]));
    const ctx = () => `seed ${seed}`;
    // batches that only add descendants (apply_batch's case) and batches that need reconciling
    let plain = 0;
    let reconciled = 0;
    for (let round = 0; round < 1000; round++) {
      const origin = ORIGINS[rnd.int(ORIGINS.length)]!;
      const log = logs.get(origin)!;
      const at = next.get(origin)!;
      let batch: Change[];
      let upTo = 0;
      const past = delivered.get(origin)!;
      if (past.length && rnd.next() < 0.1) {
        batch = past[rnd.int(past.length)]!; // a redelivery
      } else if (at < log.length) {
        const n = 1 + rnd.int(8);
        batch = log.slice(at, at + n);
        next.set(origin, at + batch.length);
        past.push(batch);
        if (rnd.next() < 0.1) upTo = batch[batch.length - 1]!.seq + 1 + rnd.int(3); // seqs the batch left out
      } else continue;
      const a = await sqlite.apply(origin, batch, upTo);
      // PostgreSQL's applies commit asynchronously: the same result, plus when it is durable
      const { durable, ...b } = await postgres.apply(origin, batch, upTo);
      assert.ok(durable instanceof Promise);
      assert.deepEqual(b, a, `${ctx()} round ${round}: ApplyResults differ`);
      for (const c of batch)
        assert.deepEqual(
          await postgres.state(c.resource, c.key),
          await sqlite.state(c.resource, c.key),
          `${ctx()} round ${round}: ${c.resource}/${c.key}`,
        );
      if (a.stale + a.conflicts + a.settled > 0) reconciled++;
      else if (a.applied > 0) plain++;
      if (upTo) next.set(origin, Math.max(next.get(origin)!, Math.min(log.length, upTo)));
    }
    for (const r of RESOURCES)
      for (let k = 0; k < KEYS; k++)
        assert.deepEqual(await postgres.state(r, `k${k}`), await sqlite.state(r, `k${k}`), `${ctx()}: ${r}/k${k}`);
    assert.deepEqual(await postgres.cursors(), await sqlite.cursors(), ctx());
    assert.deepEqual(await postgres.digests(), await sqlite.digests(), ctx());
    assert.ok(plain > 10 && reconciled > 10, `${ctx()}: ${plain} plain and ${reconciled} reconciling batches`);
  } finally {
    await sqlite.close();
    await postgres.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
});
