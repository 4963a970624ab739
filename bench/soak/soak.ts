/**
 * `npm run soak -- --minutes N`: a cluster (`multizone up --app accounts`, every zone in one
 * child process, on loopback, on ports of its own) under the steady mixed workload of
 * workload.ts for N minutes. Every few seconds it samples the child over IPC (probe.mjs: RSS,
 * V8 heap used after a full GC, external memory, active handles, event-loop delay) and scrapes
 * its /metrics (series per metric family, as a scraper would). At the end it prints the slope
 * of each over the second half and exits 1 when heap used grows faster than the bound, or a
 * stream failed too often or the cluster died; 2 when it could not be started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { DEFAULT_TOPOLOGY_FILE } from '../../src/topology/index.ts';
import { type Sample, SERIES, type SeriesName, sampleAt, slopesPerMinute, verdict } from './stats.ts';
import { soakTopologyYaml } from './topology.ts';
import { type Endpoint, RATES, startWorkload } from './workload.ts';

const USAGE = `usage: npm run soak -- --minutes N [options]
  --minutes N          how long the load runs (1..240)
  --port-base P        listeners at P+0..P+4 on each zone's 127.0.N.1, control at 127.0.0.1:P+10;
                       0 (default): free ports
  --rate X             multiplies every stream's rate (default 1: ~${Math.round(Object.values(RATES).reduce((a, b) => a + b, 0))} requests/s)
  --sample-seconds S   seconds between samples (default 5)
  --heap-bound MB      largest heap-used slope over the second half, MB/min (default 1)
  --only S,S…          run only these streams (names as in the report)
  --snapshots M,M…     write heap snapshots at these minutes (into --out); each freezes the
                       cluster for seconds (leases lapse, shards may move): for finding a leak,
                       not for the figures
  --out DIR            where samples.json, the topology, the cluster's log and snapshots go
                       (default: a fresh folder under the system temp dir, kept)
  --json               print the result as one JSON line instead of the report`;

const BIN = resolve('bin/multizone.js');
const PROBE = resolve('bench/soak/probe.mjs');
const MB = 1024 * 1024;

/** The soak's options, parsed and checked. */
export interface SoakOptions {
  minutes: number;
  portBase: number;
  rate: number;
  sampleSeconds: number;
  heapBound: number;
  snapshots: number[];
  only: string[] | undefined;
  out: string;
  json: boolean;
}

function parse(argv: string[]): SoakOptions | string {
  let v: ReturnType<typeof parseArgs>['values'];
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        minutes: { type: 'string' },
        'port-base': { type: 'string', default: '0' },
        rate: { type: 'string', default: '1' },
        'sample-seconds': { type: 'string', default: '5' },
        'heap-bound': { type: 'string', default: '1' },
        snapshots: { type: 'string', default: '' },
        only: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    return (e as Error).message;
  }
  if (v.help) return '';
  const num = (name: string, lo: number, hi: number): number | string => {
    const x = Number(v[name]);
    return Number.isFinite(x) && x >= lo && x <= hi ? x : `--${name} must be ${lo}..${hi} (got ${String(v[name])})`;
  };
  const minutes = num('minutes', 1, 240);
  const portBase = num('port-base', 0, 65525);
  const rate = num('rate', 0.01, 20);
  const sampleSeconds = num('sample-seconds', 1, 60);
  const heapBound = num('heap-bound', 0, 1000);
  for (const x of [minutes, portBase, rate, sampleSeconds, heapBound]) if (typeof x === 'string') return x;
  if (!Number.isInteger(portBase)) return `--port-base must be an integer (got ${String(v['port-base'])})`;
  const snapshots = String(v.snapshots)
    .split(',')
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
  if (snapshots.some((m) => !(m >= 0 && m <= (minutes as number))))
    return `--snapshots must be minutes within the run (got ${String(v.snapshots)})`;
  const only = v.only === undefined ? undefined : String(v.only).split(',').filter(Boolean);
  const unknown = only?.filter((x) => !Object.hasOwn(RATES, x)) ?? [];
  if (unknown.length > 0) return `--only: no stream ${unknown.join(', ')} (streams: ${Object.keys(RATES).join(', ')})`;
  return {
    minutes: minutes as number,
    only,
    portBase: portBase as number,
    rate: rate as number,
    sampleSeconds: sampleSeconds as number,
    heapBound: heapBound as number,
    snapshots,
    out: v.out ? resolve(String(v.out)) : mkdtempSync(join(tmpdir(), 'mz-soak-')),
    json: Boolean(v.json),
  };
}

/** The cluster process and how to talk to it. */
interface Cluster {
  child: ChildProcess;
  control: string;
  endpoints: Endpoint[];
  /** Sends one IPC request and waits for its answer. */
  ask<T>(m: Record<string, unknown>, timeoutMs: number): Promise<T>;
  /** Resolves with the exit code or signal when the child exits. */
  exited: Promise<number | string | null>;
  stderrTail(): string;
}

async function startClusterProcess(o: SoakOptions): Promise<Cluster> {
  const dataDir = join(o.out, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = join(o.out, 'topology.yaml');
  writeFileSync(
    config,
    soakTopologyYaml(readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8'), { portBase: o.portBase, dataDir }),
  );
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', PROBE, BIN, 'up', '--app', 'accounts', '--config', config, '--json'],
    {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, MZ_LOG_LEVEL: process.env.MZ_LOG_LEVEL ?? 'warn' },
    },
  );
  // the cluster's own output goes to a file; the last lines are kept for a failure message
  const logFile = join(o.out, 'cluster.log');
  writeFileSync(logFile, '');
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
    writeFileSync(logFile, d, { flag: 'a' });
  };
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string | null>((r) => child.once('exit', (c, s) => r(c ?? s)));
  const waiting = new Map<number, (m: unknown) => void>();
  child.on('message', (m: { id?: number }) => {
    const w = waiting.get(m.id ?? -1);
    if (w) {
      waiting.delete(m.id!);
      w(m);
    }
  });
  let ids = 0;
  const line = await new Promise<string>((resolveLine, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      keep(d);
      buf += d.toString();
      const l = buf
        .split('\n')
        .slice(0, -1)
        .find((x) => x.startsWith('{"control":'));
      if (l) resolveLine(l);
    });
    void exited.then((c) => reject(new Error(`the cluster exited (${c}) before it was up:\n${tail}`)));
  });
  const info = JSON.parse(line) as { control: string; endpoints: Endpoint[] };
  return {
    child,
    control: info.control,
    endpoints: info.endpoints,
    exited,
    stderrTail: () => tail,
    ask<T>(m: Record<string, unknown>, timeoutMs: number): Promise<T> {
      const id = ++ids;
      return new Promise<T>((res, rej) => {
        const t = setTimeout(() => {
          waiting.delete(id);
          rej(new Error(`no answer to ${String(m.t)} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (x) => {
          clearTimeout(t);
          res(x as T);
        });
        child.send({ ...m, id });
      });
    },
  };
}

/** Series per metric family in a Prometheus text exposition. */
export function seriesPerFamily(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    if (!l || l.startsWith('#')) continue;
    const end = l.search(/[{ ]/);
    const name = (end < 0 ? l : l.slice(0, end)).replace(/_(bucket|sum|count)$/, '');
    out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);
const minutes = (t: number) => `${fmt(t / 60)} min`;

/** The soak's result, as --json prints it. */
export interface SoakResult {
  ok: boolean;
  why: string[];
  minutes: number;
  slopes: Record<SeriesName, number>;
  at: { minute: number; rss: number; heapUsed: number }[];
  streams: ReturnType<Awaited<ReturnType<typeof startWorkload>>['streams']>;
  /** Metric families whose series count grew over the second half. */
  seriesGrowth: { family: string; from: number; to: number }[];
  samples: Sample[];
}

/** Runs one soak; resolves with its result (the cluster stopped). */
export async function runSoak(o: SoakOptions, log: (l: string) => void): Promise<SoakResult> {
  log(`soak: ${o.minutes} min, output in ${o.out}`);
  const cluster = await startClusterProcess(o);
  let dead: string | undefined;
  let stopping = false;
  void cluster.exited.then((c) => {
    if (!stopping) dead = `the cluster process exited (${c}) during the soak:\n${cluster.stderrTail()}`;
  });
  log(`soak: cluster up, control ${cluster.control}`);
  const samples: Sample[] = [];
  const series: { t: number; families: Map<string, number> }[] = [];
  let workload: Awaited<ReturnType<typeof startWorkload>> | undefined;
  try {
    workload = await startWorkload({
      endpoints: cluster.endpoints,
      control: cluster.control,
      scale: o.rate,
      ...(o.only ? { only: o.only } : {}),
      tag: String(process.pid % 100_000).padStart(5, '0'),
      log,
    });
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    const snapshots = [...o.snapshots];
    const snapshot = async (m: number, t: number) => {
      // the load waits: a snapshot freezes the cluster, and queued requests would only time out
      workload!.pause();
      const r = await cluster.ask<{ file: string }>(
        { t: 'snapshot', path: join(o.out, `heap-${String(m).padStart(3, '0')}min.heapsnapshot`) },
        300_000,
      );
      workload!.resume();
      log(`soak: heap snapshot at ${minutes(t)}: ${r.file}`);
    };
    let nextLine = 60;
    // Ctrl-C (or SIGTERM) ends the load early: the report covers what ran, the cluster is stopped
    let interrupted = false;
    const interrupt = () => {
      interrupted = true;
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    while (elapsed() < o.minutes * 60 && !dead && !interrupted) {
      const t = elapsed();
      const s = await cluster.ask<Omit<Sample, 't'>>({ t: 'sample' }, 30_000);
      samples.push({ t, ...pick(s) });
      const metrics = await request(`${cluster.control}/metrics`);
      series.push({ t, families: seriesPerFamily(await metrics.body.text()) });
      if (snapshots.length > 0 && t >= snapshots[0]! * 60) await snapshot(snapshots.shift()!, t);
      if (t >= nextLine) {
        nextLine += 60;
        const last = samples[samples.length - 1]!;
        const failed = workload.streams().reduce((a, x) => a + x.failed, 0);
        log(
          `soak: ${minutes(t)}  rss ${fmt(last.rss / MB)} MB  heap ${fmt(last.heapUsed / MB)} MB (of ${fmt(last.heapTotal / MB)})  external ${fmt(last.external / MB)} MB  handles ${last.handles}  lag p99 ${fmt(last.lagP99)} ms  ${fmt(workload.rate(), 0)} answers/s  ${failed} failed`,
        );
      }
      const wait = o.sampleSeconds * 1000 - ((elapsed() - t) * 1000 || 0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // a snapshot asked for at the end is taken before the load stops
    for (const m of snapshots) if (!dead && !interrupted) await snapshot(m, elapsed());
  } finally {
    await workload?.stop();
    stopping = true;
    if (cluster.child.exitCode === null) {
      cluster.child.kill('SIGTERM');
      const killer = setTimeout(() => cluster.child.kill('SIGKILL'), 30_000);
      await cluster.exited;
      clearTimeout(killer);
    }
  }
  const slopes = slopesPerMinute(samples);
  const streams = workload.streams();
  const why = verdict(slopes, streams, { heapMbPerMin: o.heapBound, errorRatio: 0.01 });
  if (dead) why.unshift(dead);
  const end = samples[samples.length - 1]?.t ?? 0;
  const mid = series.find((x) => x.t >= end / 2);
  const last = series[series.length - 1];
  const seriesGrowth =
    mid && last
      ? [...last.families]
          .filter(([f, c]) => c > (mid.families.get(f) ?? 0))
          .map(([family, to]) => ({ family, from: mid.families.get(family) ?? 0, to }))
      : [];
  const marks = [...new Set([1, 5, 15, 30, 60, o.minutes / 2, o.minutes].filter((m) => m <= o.minutes))].sort(
    (a, b) => a - b,
  );
  const at = marks.flatMap((m) => {
    const s = sampleAt(samples, m * 60, o.sampleSeconds * 2 + 5);
    return s ? [{ minute: m, rss: s.rss, heapUsed: s.heapUsed }] : [];
  });
  const result: SoakResult = {
    ok: why.length === 0,
    why,
    minutes: o.minutes,
    slopes,
    at,
    streams,
    seriesGrowth,
    samples,
  };
  writeFileSync(join(o.out, 'samples.json'), JSON.stringify(result, null, 1));
  return result;
}

const pick = (s: Omit<Sample, 't'>): Omit<Sample, 't'> => ({
  rss: s.rss,
  heapUsed: s.heapUsed,
  heapTotal: s.heapTotal,
  external: s.external,
  arrayBuffers: s.arrayBuffers,
  handles: s.handles,
  lagP50: s.lagP50,
  lagP99: s.lagP99,
  lagMax: s.lagMax,
});

/** The report people read. */
export function renderReport(r: SoakResult, bound: number): string {
  const lines: string[] = [];
  lines.push('', 'minute  rss MB  heap used MB');
  for (const a of r.at)
    lines.push(`${fmt(a.minute).padStart(6)}  ${fmt(a.rss / MB).padStart(6)}  ${fmt(a.heapUsed / MB).padStart(12)}`);
  lines.push('', 'slope over the second half (per minute):');
  for (const [name, unit] of SERIES)
    lines.push(`  ${name.padEnd(9)} ${r.slopes[name] >= 0 ? '+' : ''}${fmt(r.slopes[name], 3)} ${unit}`);
  // RSS against the 5-minute mark once the run is long enough (startup and warm-up are before it)
  const first = r.at.find((a) => a.minute === 5 && r.minutes >= 10) ?? r.at[0];
  const lastAt = r.at[r.at.length - 1];
  if (first && lastAt && first !== lastAt)
    lines.push(
      `  rss at ${fmt(lastAt.minute)} min is ${fmt((lastAt.rss / first.rss - 1) * 100)} % from ${fmt(first.minute)} min`,
    );
  lines.push('', 'stream         rate/s     sent       ok   failed  skipped  last failure');
  for (const s of r.streams)
    lines.push(
      `${s.name.padEnd(13)} ${fmt(s.rate).padStart(7)} ${String(s.sent).padStart(8)} ${String(s.ok).padStart(8)} ${String(s.failed).padStart(8)} ${String(s.skipped).padStart(8)}  ${s.lastFailure.slice(0, 60)}`,
    );
  if (r.seriesGrowth.length > 0) {
    lines.push('', 'metric families whose series count grew over the second half:');
    for (const g of r.seriesGrowth) lines.push(`  ${g.family}: ${g.from} → ${g.to}`);
  }
  lines.push('', r.ok ? `PASS: heap used within ${bound} MB/min once warm` : `FAIL:\n  ${r.why.join('\n  ')}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = parse(process.argv.slice(2));
  if (typeof o === 'string') {
    if (o) console.error(`soak: ${o}`);
    console.error(USAGE);
    process.exit(o ? 64 : 0);
  }
  let r: SoakResult;
  try {
    r = await runSoak(o, (l) => (o.json ? process.stderr : process.stdout).write(`${l}\n`));
  } catch (e) {
    console.error(`soak: ${(e as Error).message}`);
    process.exit(2);
  }
  if (o.json) {
    const { samples: _, ...brief } = r;
    console.log(JSON.stringify(brief));
  } else console.log(renderReport(r, o.heapBound));
  process.exit(r.ok ? 0 : 1);
}
