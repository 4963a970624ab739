/**
 * `npm run bench -- replication [--quick] [--per-zone] [--only=STORE+LOG] [--lag-only|--throughput-only]`
 *
 * For each (store, log) pair — sqlite|postgres × memory|jetstream — four zones in this
 * process, one writing zone replicating to the three others:
 *   - throughput: writes acknowledged in batches of 100 (putMany: one transaction each) as
 *     fast as the zone takes them, until all three other zones have applied all of them;
 *     then the same with all four zones writing at once (replicated writes/s per zone);
 *   - lag at 2k and 5k writes/s: writes paced every 10 ms, lag = applied-at-destination
 *     time − acknowledged time (when putMany resolved at the origin), per (write,
 *     destination); p50 and p99, on CLOCK_MONOTONIC (shared by the processes of --per-zone).
 *     A change applied before its writer saw the ack counts as 0.
 * Next to them, in the same run, the floor: a bare JetStream publish → durable consume
 * (three consumers) of the same batches at the same rates.
 * `--per-zone` adds the JetStream pairs with each destination zone in its own process.
 * Medians of RUNS runs. `--only=sqlite+memory` runs one combination; `--quick` one short run;
 * `--throughput-only` skips the floor and the paced runs, `--lag-only` the throughput runs.
 * "per CPU-second" divides by the CPU time of this process (and the zone processes), a figure
 * the machine's other load distorts less. PostgreSQL and NATS are the machine's services.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, DeliverPolicy, nanos, StorageType } from 'nats';
import pg from 'pg';
import { systemClock } from '../../src/core/clock.ts';
import { seededRandom } from '../../src/core/random.ts';
import { JetStreamLog, type Log, MemoryLog, Replication } from '../../src/replication/index.ts';
import type { Change, Store } from '../../src/store/index.ts';
import { mono, NATS, openStore, PG_URL, topology, WRITER, writes, ZONES } from './shared.ts';
import type { FromZone, ToZone, ZoneProcessConfig } from './zone-process.ts';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 1 : 3;
const LAG_SECONDS = QUICK ? 1.5 : 3;
const THROUGHPUT_WRITES = QUICK ? 10_000 : 30_000;
/** `--throughput-only`: skip the floor and the paced runs (for profiling). */
const RATES = process.argv.includes('--throughput-only') ? [] : [2000, 5000];
/**
 * `--per-zone`: also run the JetStream pairs with each destination zone in its own process
 * (zone-process.ts), as a distributed deployment places them. On this two-core machine it is
 * not faster: the processes add their own wake-ups and NATS clients to the same two cores.
 */
const PER_ZONE = process.argv.includes('--per-zone');
/** `--lag-only`: skip the throughput runs (for profiling the paced ones). */
const LAG_ONLY = process.argv.includes('--lag-only');
const tag = `B${Math.floor(Math.random() * 1e9)
  .toString(36)
  .toUpperCase()}`;

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const median = (xs: number[]) => pct(xs, 50);

interface Rig {
  repl: Replication;
  /** CLOCK_MONOTONIC time each change of the writer was applied, per destination: [seq, at] pairs (paced runs). */
  appliedAt: number[];
  applied: number;
  /** CPU microseconds used so far by this process and the zone processes. */
  cpuMicros(): Promise<number>;
  /** Writes `n` records in each zone at once, each into its own shards. */
  writeEverywhere(n: number): Promise<void>;
  close(): Promise<void>;
}

type Placement = 'one process' | 'a process per zone';

/**
 * Four zones, `sh-a` writing. In one process (the embedded cluster, and the only way with the
 * in-process log), or with each of the three destinations in its own process (zone-process.ts)
 * as a distributed deployment runs them: there the three appliers don't share one event loop.
 */
async function openRig(
  storeKind: 'sqlite' | 'postgres',
  logKind: 'memory' | 'jetstream',
  placement: Placement,
  run: string,
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'mz-bench-'));
  const pool = storeKind === 'postgres' ? new pg.Pool({ connectionString: PG_URL, max: 16 }) : undefined;
  const schemaOf = (zone: string) => `mzb_${tag.toLowerCase()}_${run}_${zone.replace('-', '_')}`;
  const where = (zone: string) => (pool ? { schema: schemaOf(zone), pool } : { file: join(dir, `${zone}.db`) });
  const local = placement === 'one process' ? ZONES : [WRITER];
  const stores = new Map<string, Store>();
  for (const zone of local) stores.set(zone, await openStore(storeKind, zone, where(zone)));
  const prefix = `${tag}${run}`;
  const log: Log =
    logKind === 'memory'
      ? new MemoryLog({ clock: systemClock, random: seededRandom(1) })
      : await JetStreamLog.connect({ servers: NATS, prefix, clock: systemClock });
  const children: ChildProcess[] = [];
  const rig: Rig = {
    repl: undefined as never,
    appliedAt: [],
    applied: 0,
    cpuMicros: async () => 0,
    writeEverywhere: async () => {},
    close: async () => {},
  };
  const onApplied = (at: number, n: number, seqs: readonly number[] | undefined) => {
    if (seqs) for (const seq of seqs) rig.appliedAt.push(seq, at);
    rig.applied += n;
  };
  rig.repl = new Replication({
    topology,
    stores,
    log,
    clock: systemClock,
    batchMax: 1000,
    pollMs: 50,
    events: {
      applied(o, _d, b) {
        onApplied(mono(), b.changes.length, o === WRITER ? b.changes.map((c) => c.seq) : undefined);
      },
    },
  });
  await rig.repl.start();
  for (const zone of ZONES.filter((z) => !local.includes(z))) {
    const cfg: ZoneProcessConfig = {
      zone,
      store: storeKind,
      prefix,
      ...(pool ? { schema: schemaOf(zone) } : { file: join(dir, `${zone}.db`) }),
    };
    const child = fork(join(import.meta.dirname, 'zone-process.ts'), [JSON.stringify(cfg)], {
      execArgv: ['--import', './bin/ts.mjs'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (m: FromZone) => {
      if (m.t === 'applied') onApplied(m.at, m.n, m.seqs);
    });
    children.push(child);
    // a zone process that fails to start exits instead of saying ready
    const first = await Promise.race([
      once(child, 'message').then(([m]) => m as FromZone),
      once(child, 'exit').then(([code]) => ({ t: 'exit', code }) as const),
    ]);
    if (first.t !== 'ready') throw new Error(`zone process ${zone} did not start: ${JSON.stringify(first)}`);
  }
  const ask = <T extends FromZone['t']>(c: ChildProcess, m: ToZone, want: T) =>
    new Promise<Extract<FromZone, { t: T }>>((resolve) => {
      const on = (r: FromZone) => {
        if (r.t !== want) return;
        c.off('message', on);
        resolve(r as Extract<FromZone, { t: T }>);
      };
      c.on('message', on);
      c.send(m);
    });
  rig.cpuMicros = async () => {
    const own = process.cpuUsage();
    const theirs = await Promise.all(children.map((c) => ask(c, { t: 'cpu' }, 'cpu')));
    return own.user + own.system + theirs.reduce((a, r) => a + r.micros, 0);
  };
  rig.writeEverywhere = async (n) => {
    await Promise.all([
      ...local.map(async (zone) => {
        const store = rig.repl.storeFor(zone);
        for (let done = 0; done < n; done += 100) await store.putMany(writes(100, zone));
      }),
      ...children.map((c) => ask(c, { t: 'write', n }, 'written')),
    ]);
  };
  rig.close = async () => {
    for (const c of children) {
      c.send({ t: 'stop' } satisfies ToZone);
      await once(c, 'exit');
    }
    await rig.repl.stop();
    if (log instanceof JetStreamLog) await log.deleteStreams(ZONES);
    await log.close();
    for (const s of stores.values()) await s.close();
    if (pool) {
      for (const z of ZONES) await pool.query(`DROP SCHEMA IF EXISTS "${schemaOf(z)}" CASCADE`);
      await pool.end();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return rig;
}

async function waitApplied(rig: Rig, target: number, ms = 60_000): Promise<boolean> {
  const end = systemClock.now() + ms;
  while (rig.applied < target) {
    if (systemClock.now() > end) return false;
    await systemClock.sleep(2);
  }
  return true;
}

/** Writes as fast as the zone takes them; returns replicated writes/s (all three others applied). */
async function throughput(rig: Rig): Promise<{ perSec: number; perCpuSec: number }> {
  const store = rig.repl.storeFor(WRITER);
  rig.applied = 0;
  const cpu0 = await rig.cpuMicros();
  const t0 = systemClock.now();
  // keep a few transactions in flight (PostgreSQL has a pool; SQLite runs them one after another anyway)
  const inflight = new Set<Promise<unknown>>();
  for (let done = 0; done < THROUGHPUT_WRITES; done += 100) {
    const p: Promise<unknown> = store.putMany(writes(100)).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 4) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const ok = await waitApplied(rig, THROUGHPUT_WRITES * 3);
  const secs = (systemClock.now() - t0) / 1000;
  // this process's and the zone processes' CPU time (the waiting loop polls every 2 ms, a small
  // overhead): a figure the machine's other load does not distort much
  const cpuSecs = ((await rig.cpuMicros()) - cpu0) / 1e6;
  return ok
    ? { perSec: THROUGHPUT_WRITES / secs, perCpuSec: THROUGHPUT_WRITES / cpuSecs }
    : { perSec: NaN, perCpuSec: NaN };
}

/** All four zones write at once (each to its own shards); returns replicated writes/s per zone. */
async function throughputAllZones(rig: Rig): Promise<number> {
  rig.applied = 0;
  const per = Math.round(THROUGHPUT_WRITES / 4 / 100) * 100;
  const t0 = systemClock.now();
  await rig.writeEverywhere(per);
  const ok = await waitApplied(rig, per * 4 * 3);
  const secs = (systemClock.now() - t0) / 1000;
  return ok ? per / secs : Number.NaN;
}

/** Paced writes at `rate`/s for LAG_SECONDS (a putMany every 10 ms); returns lag p50/p99 (ms). */
async function lagAt(rig: Rig, rate: number): Promise<{ p50: number; p99: number; achieved: number }> {
  const store = rig.repl.storeFor(WRITER);
  rig.appliedAt = [];
  rig.applied = 0;
  const ackAt = new Map<number, number>();
  const perTick = Math.round(rate / 100);
  const ticks = Math.round(LAG_SECONDS * 100);
  const t0 = systemClock.now();
  let written = 0;
  for (let i = 0; i < ticks; i++) {
    const due = t0 + i * 10;
    const wait = due - systemClock.now();
    if (wait > 0) await systemClock.sleep(wait);
    const r = await store.putMany(writes(perTick));
    const now = mono();
    for (const w of r) ackAt.set(w.seq, now);
    written += perTick;
  }
  const achieved = written / ((systemClock.now() - t0) / 1000);
  await waitApplied(rig, written * 3);
  const lags: number[] = [];
  for (let i = 0; i < rig.appliedAt.length; i += 2) {
    const ack = ackAt.get(rig.appliedAt[i]!);
    if (ack !== undefined) lags.push(Math.max(0, rig.appliedAt[i + 1]! - ack));
  }
  return { p50: pct(lags, 50), p99: pct(lags, 99), achieved };
}

/** The floor: bare JetStream publish of same-sized batches → three durable consumers. */
async function floor(rate: number | 'max'): Promise<{ p50: number; p99: number; perSec: number }> {
  // as JetStreamLog connects (no async stack traces), so the floor pays no more per request than we do
  const nc = await connect({ servers: NATS, noAsyncTraces: true });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const stream = `${tag}_FLOOR_${Math.floor(Math.random() * 1e6)}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.x`], storage: StorageType.File });
  const lags: number[] = [];
  let got = 0;
  const loops: Promise<void>[] = [];
  const stops: (() => void)[] = [];
  for (const d of ['sh-b', 'bj-a', 'gz-a']) {
    await jsm.consumers.add(stream, {
      durable_name: d,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_ack_pending: 10_000,
    });
    const msgs = await (await js.consumers.get(stream, d)).consume({ max_messages: 256 });
    stops.push(() => msgs.stop());
    loops.push(
      (async () => {
        for await (const m of msgs) {
          const b = JSON.parse(Buffer.from(m.data).toString('utf8')) as { changes: Change[] };
          const now = mono();
          for (const c of b.changes) lags.push(now - c.time);
          got += b.changes.length;
          m.ack();
        }
      })(),
    );
  }
  const batchOf = (n: number): Buffer => {
    const t = mono();
    const changes = writes(n).map((w, i) => ({
      seq: i,
      origin: WRITER,
      shard: w.shard,
      epoch: 1,
      cls: 'sharded',
      resource: w.resource,
      key: w.key,
      value: w.value,
      deleted: false,
      vv: { [WRITER]: 1 },
      version: 1,
      time: t,
    }));
    return Buffer.from(JSON.stringify({ origin: WRITER, from: 0, to: n, changes, sentAt: t }));
  };
  const t0 = systemClock.now();
  let sent = 0;
  if (rate === 'max') {
    const pend: Promise<unknown>[] = [];
    for (; sent < THROUGHPUT_WRITES; sent += 100) {
      pend.push(js.publish(`${stream}.x`, batchOf(100)));
      if (pend.length >= 4) await pend.shift();
    }
    await Promise.all(pend);
  } else {
    const perTick = Math.round(rate / 100);
    for (let i = 0; i < Math.round(LAG_SECONDS * 100); i++) {
      const wait = t0 + i * 10 - systemClock.now();
      if (wait > 0) await systemClock.sleep(wait);
      await js.publish(`${stream}.x`, batchOf(perTick));
      sent += perTick;
    }
  }
  const end = systemClock.now() + 60_000;
  while (got < sent * 3 && systemClock.now() < end) await systemClock.sleep(2);
  const secs = (systemClock.now() - t0) / 1000;
  for (const s of stops) s();
  await Promise.all(loops.map((l) => l.catch(() => {})));
  await jsm.streams.delete(stream);
  await nc.drain();
  return { p50: pct(lags, 50), p99: pct(lags, 99), perSec: sent / secs };
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const k = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(1)}k` : 'n/a');

async function main(): Promise<void> {
  console.log(
    `replication bench: node ${process.version}, ${cpus()[0]?.model ?? '?'} ×${cpus().length}, runs ${RUNS}, ${LAG_SECONDS}s per rate, ${THROUGHPUT_WRITES} writes for throughput`,
  );
  console.log('one writing zone (sh-a) → three others; writes acknowledged in putMany transactions (group commit)\n');
  const floorRows: Record<string, { p50: number[]; p99: number[]; tput: number[] }> = {};
  for (const r of RATES) floorRows[r] = { p50: [], p99: [], tput: [] };
  const floorMax: number[] = [];
  const rows: {
    name: string;
    tput: number[];
    cpu: number[];
    all: number[];
    lag: Record<number, { p50: number[]; p99: number[]; ach: number[] }>;
  }[] = [];
  const combos: ['sqlite' | 'postgres', 'memory' | 'jetstream', Placement][] = [
    ['sqlite', 'memory', 'one process'],
    ['sqlite', 'jetstream', 'one process'],
    ['postgres', 'memory', 'one process'],
    ['postgres', 'jetstream', 'one process'],
  ];
  // --per-zone: the JetStream pairs also with each destination zone in its own process
  if (PER_ZONE) {
    combos.splice(2, 0, ['sqlite', 'jetstream', 'a process per zone']);
    combos.push(['postgres', 'jetstream', 'a process per zone']);
  }
  const nameOf = (s: string, l: string, p: Placement) =>
    `${s} + ${l}${p === 'one process' ? '' : ', a process per zone'}`;
  // --only=postgres+jetstream runs both placements of that pair
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  if (only) combos.splice(0, combos.length, ...combos.filter(([s, l]) => `${s}+${l}` === only));
  for (const [s, l, p] of combos)
    rows.push({
      name: nameOf(s, l, p),
      tput: [],
      cpu: [],
      all: [],
      lag: Object.fromEntries(RATES.map((r) => [r, { p50: [], p99: [], ach: [] }])),
    });
  for (let run = 0; run < RUNS; run++) {
    // alternate: floor, then each combination, within every run
    if (RATES.length) floorMax.push((await floor('max')).perSec);
    for (const r of RATES) {
      const f = await floor(r);
      floorRows[r]!.p50.push(f.p50);
      floorRows[r]!.p99.push(f.p99);
    }
    for (let i = 0; i < combos.length; i++) {
      const [s, l, p] = combos[i]!;
      const rig = await openRig(s, l, p, `r${run}c${i}`);
      try {
        if (!LAG_ONLY) {
          const tp = await throughput(rig);
          rows[i]!.tput.push(tp.perSec);
          rows[i]!.cpu.push(tp.perCpuSec);
          rows[i]!.all.push(await throughputAllZones(rig));
        }
        for (const r of RATES) {
          const x = await lagAt(rig, r);
          rows[i]!.lag[r]!.p50.push(x.p50);
          rows[i]!.lag[r]!.p99.push(x.p99);
          rows[i]!.lag[r]!.ach.push(x.achieved);
        }
      } finally {
        await rig.close();
      }
      process.stdout.write('.');
    }
  }
  console.log('\n');
  const head = [
    '',
    'replicated writes/s',
    'per CPU-second',
    'per zone, 4 writing',
    ...RATES.flatMap((r) => [`lag p50 @${k(r)} ms`, `p99 @${k(r)} ms`]),
  ];
  const lines: string[][] = [head];
  lines.push([
    'floor: bare JetStream publish → 3 durable consumers',
    `${k(median(floorMax))} records/s`,
    '',
    '',
    ...RATES.flatMap((r) => [f1(median(floorRows[r]!.p50)), f1(median(floorRows[r]!.p99))]),
  ]);
  for (const row of rows)
    lines.push([
      row.name,
      k(median(row.tput)),
      k(median(row.cpu)),
      k(median(row.all)),
      ...RATES.flatMap((r) => [f1(median(row.lag[r]!.p50)), f1(median(row.lag[r]!.p99))]),
    ]);
  const widths = head.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  for (const l of lines) console.log(l.map((x, c) => x.padEnd(widths[c]!)).join('  '));
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log('\nagainst the floor (goal: p50 ≤ floor + 2 ms, p99 ≤ floor + 10 ms):');
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  // each run against the floor of the same run: how far the machine's noise moves the figure
  const perRun = (xs: number[], fs: number[]) => xs.map((x, i) => f1(x - fs[i]!)).join(', ');
  for (const row of rows)
    for (const r of RATES) {
      const d50 = median(row.lag[r]!.p50) - median(floorRows[r]!.p50);
      const d99 = median(row.lag[r]!.p99) - median(floorRows[r]!.p99);
      console.log(
        `  ${row.name.padEnd(width)} @${k(r)}/s: p50 ${f1(d50)} ms over floor (${mark(d50 <= 2)}), p99 ${f1(d99)} ms over floor (${mark(d99 <= 10)}); achieved ${k(median(row.lag[r]!.ach))} writes/s` +
          (RUNS > 1
            ? `; by run: p50 ${perRun(row.lag[r]!.p50, floorRows[r]!.p50)}, p99 ${perRun(row.lag[r]!.p99, floorRows[r]!.p99)}`
            : ''),
      );
    }
  if (LAG_ONLY) return;
  console.log('\nthroughput (goal: ≥ 20k/s sqlite + memory, ≥ 5k/s postgres + jetstream), ratio to the floor:');
  const goal: Record<string, number> = { 'sqlite + memory': 20_000, 'postgres + jetstream': 5_000 };
  for (const row of rows) {
    const g = goal[row.name.split(',')[0]!];
    console.log(
      `  ${row.name.padEnd(width)} ${k(median(row.tput))}/s = ${(median(row.tput) / median(floorMax)).toFixed(2)}× the floor${g ? ` (goal ${k(g)}/s: ${mark(median(row.tput) >= g)})` : ''}; per CPU-second ${k(median(row.cpu))}; 4 zones writing ${k(median(row.all))}/s per zone`,
    );
  }
}

await main();
