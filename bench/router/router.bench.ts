// `npm run bench -- router`: requests/s through a zone's router (local owner, and one forward
// hop to the owner zone's router) next to a bare node:http + undici Pool proxy doing the same
// hop(s). The proxy under test and the upstream apps pinned to core 0 (taskset -c 0), so the
// proxy's own cost decides the figure; wrk alone on core 1.
// Alternating runs, medians, ratios. Env: ROUTER_BENCH_SECONDS (default 5), ROUTER_BENCH_ROUNDS (3).
// `--cores 0,1`: the servers on both cores (wrk still on core 1); with it, or with
// `--workers 2` on one core (the second process's own cost), the router also runs as two
// processes per zone (router.workers: 2, "router ×2").
// `--instructions`: instructions per request under callgrind instead (bench/router/instructions.ts).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { measureInstructions } from './instructions.ts';

const SECONDS = Number(process.env.ROUTER_BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUTER_BENCH_ROUNDS ?? 3);
const CONNS = 50;
const children: ChildProcess[] = [];
const at = process.argv.indexOf('--cores');
const CORES = at > 0 ? (process.argv[at + 1] ?? '0') : '0';
const TWO = CORES.includes(',') || process.argv.includes('--workers');

function start(core: string, args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'taskset',
      ['-c', core, process.execPath, '--import', './bin/ts.mjs', 'bench/router/servers.ts', ...args],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(p);
    p.on('error', reject);
    const rl = createInterface({ input: p.stdout! });
    rl.once('line', (l) => resolve(JSON.parse(l) as Record<string, unknown>));
  });
}

function wrk(url: string, user: string): number {
  const r = spawnSync(
    'taskset',
    ['-c', '1', 'wrk', '-t1', `-c${CONNS}`, `-d${SECONDS}s`, '-H', `x-user-id: ${user}`, url],
    { encoding: 'utf8' },
  );
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (errs) console.log(`  (warning: ${errs[1]} non-2xx answers from ${url})`);
  return m ? Number(m[1]) : Number.NaN;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  if (spawnSync('sh', ['-c', 'command -v wrk && command -v taskset']).status !== 0)
    throw new Error('needs wrk and taskset (apt-get install wrk util-linux)');
  const app = (await start(CORES, ['app'])) as { ports: number[] };
  if (process.argv.includes('--instructions')) {
    const dir = mkdtempSync(join(tmpdir(), 'mz-router-bench-'));
    try {
      await measureInstructions(app.ports, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const c of children) c.kill();
    process.exit(0);
  }
  type Ours = { entry: number; localUser: string; remoteUser: string };
  const ours = (await start(CORES, ['ours', app.ports.join(',')])) as Ours;
  const ours2 = TWO ? ((await start(CORES, ['ours', app.ports.join(','), '2'])) as Ours) : undefined;
  const bare = (await start(CORES, ['bare', app.ports.join(',')])) as { local: number; hop: number };
  const path = '/bench/item';
  // warm up every path once (pools, JIT)
  wrk(`http://127.0.0.1:${ours.entry}${path}`, ours.localUser);
  wrk(`http://127.0.0.1:${bare.local}${path}`, 'x');
  if (ours2) wrk(`http://127.0.0.1:${ours2.entry}${path}`, ours2.localUser);
  const rows: [string, number[], number[], number[]][] = [
    ['local owner (router → app)', [], [], []],
    ['one forward hop (router → router → app)', [], [], []],
  ];
  for (let i = 0; i < ROUNDS; i++) {
    rows[0]![1].push(wrk(`http://127.0.0.1:${ours.entry}${path}`, ours.localUser));
    rows[0]![2].push(wrk(`http://127.0.0.1:${bare.local}${path}`, ours.localUser));
    if (ours2) rows[0]![3].push(wrk(`http://127.0.0.1:${ours2.entry}${path}`, ours2.localUser));
    rows[1]![1].push(wrk(`http://127.0.0.1:${ours.entry}${path}`, ours.remoteUser));
    rows[1]![2].push(wrk(`http://127.0.0.1:${bare.hop}${path}`, ours.remoteUser));
    if (ours2) rows[1]![3].push(wrk(`http://127.0.0.1:${ours2.entry}${path}`, ours2.remoteUser));
  }
  console.log(
    `node ${process.version}, ${SECONDS}s × ${ROUNDS} rounds, wrk -t1 -c${CONNS} on core 1, proxies and apps on core${CORES.includes(',') ? 's' : ''} ${CORES}`,
  );
  console.log('scenario                                   multizone router   bare proxy   ratio');
  const runs = (xs: number[]) => xs.map((x) => x.toFixed(0)).join('/');
  for (const [name, a, b, c] of rows) {
    const ma = median(a);
    const mb = median(b);
    console.log(
      `${name.padEnd(42)} ${ma.toFixed(0).padStart(10)} req/s ${mb.toFixed(0).padStart(8)} req/s   ${(ma / mb).toFixed(2)}   (runs: ${runs(a)} vs ${runs(b)})`,
    );
    if (c.length > 0) {
      const mc = median(c);
      console.log(
        `${'  router ×2 (router.workers: 2)'.padEnd(42)} ${mc.toFixed(0).padStart(10)} req/s   ×${(mc / ma).toFixed(2)} the single router, ${(mc / mb).toFixed(2)} the bare proxy   (runs: ${runs(c)})`,
      );
    }
  }
} finally {
  for (const c of children) c.kill();
}
