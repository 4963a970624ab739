/**
 * `npm run bench -- router --instructions`: one forward hop (client → router → router → app)
 * counted in CPU instructions per request under valgrind's callgrind instead of timed, next to
 * the bare node:http + undici proxy doing the same two hops; and the local owner (router → app)
 * next to one bare proxy. On this shared 2-core machine the timed figures move with whatever
 * else runs; instruction counts repeat.
 *
 * The apps run outside valgrind; the process counted holds both routers (zone-a and zone-b),
 * or both bare proxies. Per target: it starts under callgrind, takes WARM requests (h2load --h1
 * -c 50) so the JIT settles and the pools fill, the counters are zeroed, it takes COUNT more,
 * and the counters are dumped. "main" is the event-loop thread; "all" adds V8's background
 * threads. ROUTER_BENCH_WARM / ROUTER_BENCH_COUNT set the request numbers (10000 each) and
 * ROUTER_BENCH_LOCAL=0 skips the local scenario. ROUTER_BENCH_BASE=DIR also counts the servers.ts of another checkout (the commit
 * before a change) in the same run.
 */
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CallgrindRun, haveValgrind } from '../support/callgrind.ts';

interface Counted {
  all: number;
  main: number;
}

const WARM = Number(process.env.ROUTER_BENCH_WARM ?? 10_000);
const COUNT = Number(process.env.ROUTER_BENCH_COUNT ?? 10_000);
/** ROUTER_BENCH_LOCAL=0 counts the forward hop only (each scenario takes minutes under valgrind). */
const WITH_LOCAL = process.env.ROUTER_BENCH_LOCAL !== '0';
const NOT_COUNTED: Counted = { all: Number.NaN, main: Number.NaN };

function h2load(url: string, n: number, user: string): void {
  const r = spawnSync('h2load', ['--h1', '-c', '50', '-n', String(n), '-H', `x-user-id: ${user}`, url], {
    encoding: 'utf8',
  });
  const ok = /(\d+) succeeded/.exec(r.stdout ?? '');
  const codes = /status codes: (\d+) 2xx/.exec(r.stdout ?? '');
  if (r.status !== 0 || !ok || Number(ok[1]) !== n || Number(codes?.[1]) !== n)
    throw new Error(`h2load ${url}: ${r.stdout}${r.stderr}`);
}

/** Starts `servers.ts mode appPorts` under callgrind and reads its JSON line. */
async function started(run: CallgrindRun, name: string): Promise<Record<string, unknown>> {
  const c = run.child;
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`${name}: not listening in 300 s under valgrind`)), 300_000);
    createInterface({ input: c.stdout! }).once('line', (l) => {
      clearTimeout(guard);
      resolve(JSON.parse(l) as Record<string, unknown>);
    });
    c.once('exit', (code) => reject(new Error(`${name}: exited ${code}`)));
  });
}

/** Counts one process: the hop, then the local owner, each warmed and counted. */
async function count(
  name: string,
  script: string,
  mode: 'ours' | 'bare',
  appPorts: number[],
  dir: string,
): Promise<{ hop: Counted; local: Counted }> {
  const run = new CallgrindRun(dir, name, [script, mode, appPorts.join(',')], { stdout: 'pipe' });
  try {
    const info = await started(run, name);
    const path = '/bench/item';
    const hopUrl = mode === 'ours' ? `http://127.0.0.1:${info.entry}${path}` : `http://127.0.0.1:${info.hop}${path}`;
    const localUrl =
      mode === 'ours' ? `http://127.0.0.1:${info.entry}${path}` : `http://127.0.0.1:${info.local}${path}`;
    const hopUser = mode === 'ours' ? String(info.remoteUser) : 'x';
    const localUser = mode === 'ours' ? String(info.localUser) : 'x';
    const measure = (url: string, user: string): Counted => {
      h2load(url, WARM, user);
      run.zero();
      h2load(url, COUNT, user);
      const n = run.dump();
      return { all: n.all / COUNT, main: n.main / COUNT };
    };
    const hop = measure(hopUrl, hopUser);
    const local = WITH_LOCAL ? measure(localUrl, localUser) : NOT_COUNTED;
    return { hop, local };
  } finally {
    run.kill();
  }
}

/** Counts ours (and a base checkout's, when given) and the bare proxy; prints per-request counts and ratios. */
export async function measureInstructions(appPorts: number[], dir: string): Promise<void> {
  if (!haveValgrind() || spawnSync('h2load', ['--version']).status !== 0) {
    console.log('valgrind or h2load is not installed (Debian valgrind, nghttp2-client): no instruction counts');
    return;
  }
  const targets: [string, string, 'ours' | 'bare'][] = [
    ['multizone router', 'bench/router/servers.ts', 'ours'],
    ['bare proxy', 'bench/router/servers.ts', 'bare'],
  ];
  const base = process.env.ROUTER_BENCH_BASE;
  if (base) targets.splice(1, 0, ['router (base)', `${base}/bench/router/servers.ts`, 'ours']);
  console.log(`instructions per request under callgrind (${WARM} warm-up, then ${COUNT} counted; h2load --h1 -c 50)…`);
  console.log(
    `  ${'process'.padEnd(18)} ${'hop main'.padStart(9)} ${'hop all'.padStart(9)} ${'local main'.padStart(11)} ${'local all'.padStart(10)}`,
  );
  const results = new Map<string, { hop: Counted; local: Counted }>();
  for (const [name, script, mode] of targets) {
    const r = await count(name, script, mode, appPorts, dir);
    results.set(name, r);
    console.log(
      `  ${name.padEnd(18)} ${Math.round(r.hop.main).toString().padStart(9)} ${Math.round(r.hop.all).toString().padStart(9)} ${Math.round(r.local.main).toString().padStart(11)} ${Math.round(r.local.all).toString().padStart(10)}`,
    );
  }
  const ours = results.get('multizone router')!;
  console.log(
    "\nratios in requests per instruction (= other process's instructions / ours), main thread, hop | local:",
  );
  for (const [name, goal] of [
    ['bare proxy', '(goal ≥ 0.9×)'],
    ['router (base)', '(gain over ROUTER_BENCH_BASE)'],
  ] as const) {
    const o = results.get(name);
    if (!o) continue;
    console.log(
      `  ours / ${name.padEnd(14)}: ${(o.hop.main / ours.hop.main).toFixed(2)}× | ${(o.local.main / ours.local.main).toFixed(2)}×   ${goal}`,
    );
  }
}
