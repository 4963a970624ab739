/**
 * `npm run bench -- tables [--quick] [--seconds=N] [--rows-per-txn=N] [--trace]`
 *
 * One table replicated from one PostgreSQL database to another, in one run, alternating:
 *   - native: PostgreSQL's own logical replication (a publication and CREATE SUBSCRIPTION
 *     between the same kind of two databases, on the machine's server);
 *   - multizone: `replication.tables` (pgoutput decoder → in-process log → applier), in this process.
 * For each: lag p50/p99 at 2k and 5k rows/s (rows written by a load process in small
 * transactions, paced; lag = applied_at − created_at of each row, both clock_timestamp() on
 * the same server: created_at in the writer's INSERT, applied_at by an ALWAYS trigger on
 * the destination), the rate actually achieved, and bulk throughput (rows/s until 50,000 rows
 * written in transactions of 1,000 are all at the destination). Medians of RUNS runs; the
 * ratio multizone/native is printed. Goals: lag p50 within native + 2 ms; ≥ 5,000 rows/s.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import pg from 'pg';
import { systemClock } from '../../src/core/clock.ts';
import { seededRandom } from '../../src/core/random.ts';
import { MemoryLog } from '../../src/replication/index.ts';
import { TableReplication } from '../../src/replication/tables/table-replication.ts';

const ADMIN = process.env.MZ_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const arg = (name: string, d: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : d;
};
const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 1 : 3;
const SECONDS = arg('seconds', QUICK ? 3 : 6);
const ROWS_PER_TXN = arg('rows-per-txn', 5);
const BULK_ROWS = QUICK ? 20_000 : 50_000;
const RATES = [2000, 5000];
const tag = `mz_tb_${Math.floor(Math.random() * 1e9).toString(36)}`;

const DDL = `
CREATE TABLE items (id bigint PRIMARY KEY, user_id int NOT NULL, payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(), applied_at timestamptz);
ALTER TABLE items REPLICA IDENTITY FULL;`;
const DEST_TRIGGER = `
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.applied_at := clock_timestamp(); RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp();
ALTER TABLE items ENABLE ALWAYS TRIGGER stamp;`;

function dbUrl(db: string): string {
  return `${ADMIN.replace(/\/[^/]*$/, '')}/${db}`;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const median = (xs: number[]) => pct(xs, 50);

// ---- the load process: `node bench/tables/tables.bench.ts --load URL RATE SECONDS START_ID ROWS_PER_TXN`
if (process.argv[2] === '--load') {
  const [url, rate, seconds, start, per] = process.argv.slice(3).map((x, i) => (i === 0 ? x : Number(x))) as [
    string,
    number,
    number,
    number,
    number,
  ];
  const CONNS = 8;
  const pool = new pg.Pool({ connectionString: url, max: CONNS });
  const txns = Math.round((rate * seconds) / per);
  const gap = (1000 * per) / rate; // ms between transactions
  const t0 = performance.now();
  let next = start;
  let sent = 0;
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < txns; i++) {
    const due = t0 + i * gap;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inflight.size >= CONNS) await Promise.race(inflight);
    const ids = Array.from({ length: per }, () => next++);
    const p = pool
      .query(
        "INSERT INTO items (id, user_id, payload) SELECT i, i % 1000, repeat('x', 100) FROM unnest($1::bigint[]) i",
        [ids],
      )
      .then(() => {
        sent += per;
        inflight.delete(p);
      });
    inflight.add(p);
  }
  await Promise.all(inflight);
  const secs = (performance.now() - t0) / 1000;
  await pool.end();
  process.send?.({ sent, secs });
  process.exit(0);
}

interface Setup {
  name: string;
  src: pg.Pool;
  dst: pg.Pool;
  srcUrl: string;
  /** `--trace`: where multizone's lag goes, per paced run. */
  trace?: Trace;
  stop(): Promise<void>;
}

/**
 * `--trace`: per batch on the log, source commit → shipped (decoding and versioning), shipped →
 * the applier starts it (the log and the applier's previous batch), and the apply itself.
 */
class Trace {
  private ship: number[] = [];
  private wait: number[] = [];
  private apply: number[] = [];
  private rows: number[] = [];
  wrap(log: MemoryLog): void {
    const append = log.append.bind(log);
    log.append = (b) => {
      for (const c of b.changes) this.ship.push(b.sentAt - c.time);
      this.rows.push(b.changes.length);
      return append(b);
    };
    const subscribe = log.subscribe.bind(log);
    log.subscribe = (origin, dest, after, handler) =>
      subscribe(origin, dest, after, async (b) => {
        const t0 = systemClock.wallTime();
        this.wait.push(t0 - b.sentAt);
        const r = await handler(b);
        this.apply.push(systemClock.wallTime() - t0);
        return r;
      });
  }
  report(): string {
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} p99 ${pct(xs, 99).toFixed(2)}`;
    const out = `commit→shipped ${f(this.ship)} · shipped→apply starts ${f(this.wait)} · apply ${f(this.apply)} ms · ${this.rows.length} batches, rows/batch p50 ${pct(this.rows, 50)}`;
    this.ship = [];
    this.wait = [];
    this.apply = [];
    this.rows = [];
    return out;
  }
}

async function createDbs(admin: pg.Client, names: string[]): Promise<void> {
  for (const n of names) await admin.query(`CREATE DATABASE ${n}`);
}

async function nativeSetup(admin: pg.Client): Promise<Setup> {
  const s = `${tag}_nsrc`;
  const d = `${tag}_ndst`;
  await createDbs(admin, [s, d]);
  const src = new pg.Pool({ connectionString: dbUrl(s), max: 2 });
  const dst = new pg.Pool({ connectionString: dbUrl(d), max: 2 });
  await src.query(DDL);
  await dst.query(DDL + DEST_TRIGGER);
  await src.query('CREATE PUBLICATION bench_pub FOR TABLE items');
  // on one server the subscription's slot must be made beforehand (CREATE SUBSCRIPTION would wait on itself)
  await src.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [`${tag}_native`]);
  await dst.query(
    `CREATE SUBSCRIPTION bench_sub CONNECTION 'host=127.0.0.1 user=postgres dbname=${s}' PUBLICATION bench_pub
       WITH (create_slot = false, slot_name = '${tag}_native', copy_data = false)`,
  );
  return {
    name: 'native',
    src,
    dst,
    srcUrl: dbUrl(s),
    async stop() {
      await dst.query('ALTER SUBSCRIPTION bench_sub DISABLE').catch(() => {});
      await dst.query('ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)').catch(() => {});
      await dst.query('DROP SUBSCRIPTION bench_sub').catch(() => {});
      await src.query('SELECT pg_drop_replication_slot($1)', [`${tag}_native`]).catch(() => {});
      await src.end();
      await dst.end();
    },
  };
}

async function multizoneSetup(admin: pg.Client): Promise<Setup> {
  const zones = ['src', 'dst'];
  await createDbs(
    admin,
    zones.map((z) => `${tag}_${z}`),
  );
  const src = new pg.Pool({ connectionString: dbUrl(`${tag}_src`), max: 2 });
  const dst = new pg.Pool({ connectionString: dbUrl(`${tag}_dst`), max: 2 });
  await src.query(DDL);
  await dst.query(DDL + DEST_TRIGGER);
  const log = new MemoryLog({ clock: systemClock, random: seededRandom(1) });
  const trace = process.argv.includes('--trace') ? new Trace() : undefined;
  trace?.wrap(log);
  const tr = new TableReplication({
    config: {
      url: dbUrl(`${tag}_{zone}`),
      tables: [{ name: 'items', class: 'sharded', conflict: 'lock' }],
      batchMax: 1000,
      refusedAfterMs: 5000,
    },
    zones,
    allZones: zones,
    log,
    clock: systemClock,
    ownership: (zone) => ({ owner: () => ({ zone, epoch: 1 }), shardCount: 1024, hash: 'fnv1a' }),
  });
  await tr.start();
  return {
    name: 'multizone',
    src,
    dst,
    srcUrl: dbUrl(`${tag}_src`),
    ...(trace ? { trace } : {}),
    async stop() {
      await tr.stop();
      await src.end();
      await dst.end();
    },
  };
}

async function runLoad(url: string, rate: number, seconds: number, start: number, per: number) {
  const child: ChildProcess = fork(
    new URL(import.meta.url).pathname,
    ['--load', url, String(rate), String(seconds), String(start), String(per)],
    { execArgv: ['--import', './bin/ts.mjs'] },
  );
  const [msg] = (await once(child, 'message')) as [{ sent: number; secs: number }];
  await once(child, 'exit');
  return msg;
}

async function waitCount(dst: pg.Pool, from: number, n: number, timeoutMs = 120_000): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const r = await dst.query('SELECT count(*)::int AS n FROM items WHERE id >= $1 AND id < $2', [from, from + n]);
    if (r.rows[0].n >= n) return true;
    if (performance.now() > end) return false;
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** Paced run: lag per row from the destination's stamps. */
async function paced(s: Setup, rate: number, start: number) {
  const load = await runLoad(s.srcUrl, rate, SECONDS, start, ROWS_PER_TXN);
  const ok = await waitCount(s.dst, start, load.sent);
  const r = await s.dst.query<{ ms: number }>(
    'SELECT extract(epoch FROM applied_at - created_at) * 1000 AS ms FROM items WHERE id >= $1 AND id < $2',
    [start, start + load.sent],
  );
  const lags = r.rows.map((x) => Number(x.ms));
  return { achieved: load.sent / load.secs, p50: pct(lags, 50), p99: pct(lags, 99), complete: ok };
}

/** Bulk: rows/s from the first write until the destination holds them all. */
async function bulk(s: Setup, start: number) {
  const t0 = performance.now();
  for (let i = 0; i < BULK_ROWS; i += 1000)
    await s.src.query(
      "INSERT INTO items (id, user_id, payload) SELECT g, g % 1000, repeat('x', 100) FROM generate_series($1::bigint, $2::bigint) g",
      [start + i, start + i + 999],
    );
  await waitCount(s.dst, start, BULK_ROWS);
  return BULK_ROWS / ((performance.now() - t0) / 1000);
}

const admin = new pg.Client({ connectionString: ADMIN });
await admin.connect();
const setups: Setup[] = [];
const results = new Map<string, { rate: number; achieved: number[]; p50: number[]; p99: number[] }[]>();
const bulkRes = new Map<string, number[]>();
try {
  setups.push(await nativeSetup(admin), await multizoneSetup(admin));
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}; ${RUNS} run(s) of ${SECONDS} s per rate, ${ROWS_PER_TXN} rows per transaction, 8 writer connections`,
  );
  let id = 1;
  for (let run = 0; run < RUNS; run++) {
    for (const s of run % 2 === 0 ? setups : [...setups].reverse()) {
      for (const rate of RATES) {
        const r = await paced(s, rate, id);
        id += rate * SECONDS + 1000;
        const list = results.get(s.name) ?? [];
        let e = list.find((x) => x.rate === rate);
        if (!e) {
          e = { rate, achieved: [], p50: [], p99: [] };
          list.push(e);
        }
        e.achieved.push(r.achieved);
        e.p50.push(r.p50);
        e.p99.push(r.p99);
        results.set(s.name, list);
        console.log(
          `  run ${run + 1} ${s.name.padEnd(9)} ${rate} rows/s: achieved ${r.achieved.toFixed(0)}, lag p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.complete ? '' : ' (INCOMPLETE)'}`,
        );
        if (s.trace) console.log(`    ${s.trace.report()}`);
      }
      const b = await bulk(s, id);
      s.trace?.report(); // not a paced run's
      id += BULK_ROWS + 1000;
      bulkRes.set(s.name, [...(bulkRes.get(s.name) ?? []), b]);
      console.log(`  run ${run + 1} ${s.name.padEnd(9)} bulk: ${b.toFixed(0)} rows/s`);
    }
  }
  console.log('\n| system | rate | achieved rows/s | lag p50 ms | lag p99 ms |\n|---|---|---|---|---|');
  for (const [name, list] of results)
    for (const e of list)
      console.log(
        `| ${name} | ${e.rate} | ${median(e.achieved).toFixed(0)} | ${median(e.p50).toFixed(2)} | ${median(e.p99).toFixed(2)} |`,
      );
  for (const [name, b] of bulkRes) console.log(`bulk ${name}: ${median(b).toFixed(0)} rows/s`);
  const nat = results.get('native')!;
  const mz = results.get('multizone')!;
  let met = true;
  for (const rate of RATES) {
    const n = nat.find((e) => e.rate === rate)!;
    const m = mz.find((e) => e.rate === rate)!;
    const d = median(m.p50) - median(n.p50);
    const ok = d <= 2;
    met &&= ok;
    console.log(
      `ratio at ${rate} rows/s: lag p50 multizone/native ${(median(m.p50) / median(n.p50)).toFixed(2)}× (+${d.toFixed(2)} ms, goal ≤ +2 ms: ${ok ? 'met' : 'NOT met'}), p99 ${(median(m.p99) / median(n.p99)).toFixed(2)}×`,
    );
  }
  const bm = median(bulkRes.get('multizone')!);
  const bn = median(bulkRes.get('native')!);
  console.log(
    `ratio bulk multizone/native ${(bm / bn).toFixed(2)}× (${bm.toFixed(0)} vs ${bn.toFixed(0)} rows/s; goal ≥ 5000: ${bm >= 5000 ? 'met' : 'NOT met'})`,
  );
  met &&= bm >= 5000;
  console.log(met ? 'goals met' : 'goals NOT met');
} finally {
  for (const s of setups) await s.stop().catch((e) => console.error(e));
  for (const n of ['nsrc', 'ndst', 'src', 'dst'])
    await admin.query(`DROP DATABASE IF EXISTS ${tag}_${n} WITH (FORCE)`).catch((e) => console.error(e.message));
  await admin
    .query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE $1 || '%'", [
      `mz_${tag}`,
    ])
    .catch(() => {});
  await admin
    .query("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname LIKE '%@' || $1 || '%'", [
      tag,
    ])
    .catch(() => {});
  await admin.end();
}
