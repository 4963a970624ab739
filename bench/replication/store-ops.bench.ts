/**
 * Store operations on the replication hot path, per adapter: local writes (putMany), reading
 * the change log back (changesAfter), applying a batch (apply), marking shipped. Medians of
 * a few rounds; on PostgreSQL also an apply of 50 records and the bare round trips at the lag
 * bench's pace (one call every 10 ms). `npm run bench -- replication` runs it after
 * replication.bench.ts.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { systemClock } from '../../src/core/clock.ts';
import { type Change, MemoryFence, PgStore, resourcePolicies, SqliteStore, type Store } from '../../src/store/index.ts';
import { parseTopology } from '../../src/topology/index.ts';
import { testTopologyYaml } from '../../test/support/net.ts';

const topology = parseTopology(
  testTopologyYaml({ extra: 'shards:\n  count: 64\nresources:\n  profiles: { class: sharded }\n' }),
  'bench.yaml',
);
const fence = new MemoryFence(topology.initialOwners());
const policies = resourcePolicies(topology, fence);
const run = Math.floor(Math.random() * 1e9).toString(36);
const PG_URL = process.env.MZ_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

async function time(n: number, fn: () => Promise<unknown>): Promise<number> {
  const t = systemClock.now();
  for (let i = 0; i < n; i++) await fn();
  return (systemClock.now() - t) / n;
}

/** Median ms of `n` calls of `fn`, one every 10 ms (the lag bench's pace: the machine idles between them). */
async function pacedMedian(n: number, fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = systemClock.now();
    await fn();
    const d = systemClock.now() - t;
    xs.push(d);
    await systemClock.sleep(Math.max(0, 10 - d));
  }
  return xs.sort((p, q) => p - q)[Math.floor(n / 2)]!;
}

/**
 * What one apply costs at the lag bench's pace (a call every 10 ms), next to the bare round
 * trips it cannot beat: a SELECT 1, and a one-row UPDATE with its durable COMMIT. On this VM
 * a call after an idle gap costs far more than back to back (caches and idle CPUs), so these
 * — not the back-to-back figures above — are the PostgreSQL part of the lag's floor.
 */
async function paced(pool: pg.Pool, b: PgStore, ch: readonly Change[]): Promise<Record<string, number>> {
  const c = await pool.connect();
  const out: Record<string, number> = {};
  // a logged table (a temporary one writes no WAL, so its commit would not flush), dropped with the schema
  const rt = `"${b.schema}".ops_rt`;
  try {
    await c.query(`CREATE TABLE ${rt} (id int PRIMARY KEY, v bigint NOT NULL)`);
    await c.query(`INSERT INTO ${rt} VALUES (1, 0)`);
    out['paced SELECT 1'] = await pacedMedian(100, () => c.query({ name: 'mz_ops_sel', text: 'SELECT 1' }));
    out['paced UPDATE+COMMIT'] = await pacedMedian(100, () =>
      c.query({ name: 'mz_ops_upd', text: `UPDATE ${rt} SET v = v + 1 WHERE id = 1` }),
    );
  } finally {
    c.release();
  }
  let i = 0;
  out['paced apply(50)'] = await pacedMedian(Math.floor(ch.length / 50), () =>
    b.apply('sh-a', ch.slice(i * 50, ++i * 50)),
  );
  return out;
}

async function measure(kind: 'sqlite' | 'postgres', round: number): Promise<Record<string, number>> {
  const pool = kind === 'postgres' ? new pg.Pool({ connectionString: PG_URL, max: 4 }) : undefined;
  const open = async (zone: string): Promise<Store> => {
    const deps = { zone, topology, fence, policies, clock: systemClock };
    return kind === 'postgres'
      ? PgStore.open({ ...deps, connection: pool!, schema: `mzops_${run}_${round}_${zone.replace('-', '_')}` })
      : new SqliteStore({ ...deps, file: join(tmpdir(), `mz-ops-${run}-${round}-${zone}.db`) });
  };
  const a = await open('sh-a');
  const b = await open('sh-b');
  let n = 0;
  const reqs = (m: number) =>
    Array.from({ length: m }, () => ({
      resource: 'profiles',
      key: `k${n++}`,
      shard: 1,
      epoch: 1,
      value: { name: 'user', bio: 'x'.repeat(120), n },
    }));
  const out: Record<string, number> = {};
  out['put (1 write/tx)'] = await time(100, () => a.putMany(reqs(1)));
  out['putMany(20)'] = await time(50, () => a.putMany(reqs(20)));
  out['putMany(100)'] = await time(20, () => a.putMany(reqs(100)));
  const t = systemClock.now();
  const ch = await a.changesAfter(0, 4000);
  out['changesAfter(4000)'] = systemClock.now() - t;
  let i = 0;
  out['apply(100)'] = await time(30, () => b.apply('sh-a', ch.slice(i * 100, ++i * 100)));
  out.markShipped = await time(100, () => a.markShipped(i++));
  if (pool) {
    // new records for the paced applies (those above were applied already)
    const from = (await a.changesAfter(0, 100_000)).length;
    for (let k = 0; k < 100; k++) await a.putMany(reqs(50));
    Object.assign(out, await paced(pool, b as PgStore, await a.changesAfter(from, 100_000)));
  }
  for (const s of [a, b]) {
    if (s instanceof PgStore) await s.dropSchema();
    await s.close();
  }
  await pool?.end();
  for (const z of ['sh-a', 'sh-b'])
    for (const ext of ['', '-wal', '-shm'])
      rmSync(join(tmpdir(), `mz-ops-${run}-${round}-${z}.db${ext}`), { force: true });
  return out;
}

const ROUNDS = process.argv.includes('--quick') ? 1 : 3;
console.log(`store operations, ms (median of ${ROUNDS}); writes/s = 1000 / ms × writes per call`);
for (const kind of ['sqlite', 'postgres'] as const) {
  const rounds: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(await measure(kind, r));
  for (const k of Object.keys(rounds[0]!)) {
    const xs = rounds.map((x) => x[k]!).sort((p, q) => p - q);
    console.log(`  ${kind.padEnd(8)} ${k.padEnd(20)} ${xs[Math.floor(xs.length / 2)]!.toFixed(2)} ms`);
  }
}
