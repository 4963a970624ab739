/**
 * `npm run bench -- edge --instructions`: 1 KB cache hits counted in CPU instructions per
 * request under valgrind's callgrind instead of timed — the bare node:http server, the edge
 * on its lean hit path and the edge with it off (node:http only). On this shared 2-core
 * machine the timed figures move with whatever else runs; instruction counts repeat.
 *
 * Per target: the server starts under callgrind, takes WARM requests (h2load --h1 -c 50) so
 * the JIT settles, the counters are zeroed, it takes COUNT more, and the counters are dumped.
 * "main" is the event-loop thread (what limits one core in the steady state); "all" adds V8's
 * background threads. The peers (ATS, nginx, Varnish) are not Node processes and are compared
 * by the timed runs only.
 */
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CallgrindRun, haveValgrind } from '../support/callgrind.ts';

const WARM = 20_000;
const COUNT = 20_000;

/** A Node server of bench/edge/servers.ts to count. */
export interface EdgeTarget {
  name: string;
  args: string[];
  port: number;
}

function h2load(url: string, n: number): void {
  const r = spawnSync('h2load', ['--h1', '-c', '50', '-n', String(n), url], { encoding: 'utf8' });
  const ok = /(\d+) succeeded/.exec(r.stdout ?? '');
  if (r.status !== 0 || !ok || Number(ok[1]) !== n) throw new Error(`h2load ${url}: ${r.stdout}${r.stderr}`);
}

async function count(t: EdgeTarget, dir: string): Promise<{ all: number; main: number }> {
  const run = new CallgrindRun(dir, t.name, ['bench/edge/servers.ts', ...t.args], { stdout: 'pipe' });
  const c = run.child;
  try {
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`${t.name}: not listening in 300 s under valgrind`)), 300_000);
      createInterface({ input: c.stdout! }).on('line', (l) => {
        if (!l.startsWith('listening')) return;
        clearTimeout(guard);
        resolve();
      });
      c.once('exit', (code) => reject(new Error(`${t.name}: server exited ${code}`)));
    });
    const url = `http://127.0.0.1:${t.port}/1k`;
    h2load(url, WARM);
    run.zero();
    h2load(url, COUNT);
    const n = run.dump();
    return { all: n.all / COUNT, main: n.main / COUNT };
  } finally {
    run.kill();
  }
}

/** Counts each target and prints instructions per request and the ratios to the first (bare). */
export async function measureInstructions(targets: EdgeTarget[], dir: string): Promise<void> {
  if (!haveValgrind() || spawnSync('h2load', ['--version']).status !== 0) {
    console.log('valgrind or h2load is not installed (Debian valgrind, nghttp2-client): no instruction counts');
    return;
  }
  console.log(`1 KB hits: instructions per request under callgrind (${WARM} warm-up requests, then ${COUNT} counted)…`);
  const results = new Map<string, { all: number; main: number }>();
  for (const t of targets) {
    const r = await count(t, dir);
    results.set(t.name, r);
    console.log(
      `  ${t.name.padEnd(12)} main ${Math.round(r.main).toString().padStart(7)}   all ${Math.round(r.all).toString().padStart(7)}`,
    );
  }
  const first = results.get(targets[0]!.name)!;
  console.log(`\nrequests per instruction against ${targets[0]!.name} (its instructions per request ÷ each one's):`);
  for (const t of targets.slice(1)) {
    const r = results.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(12)} ${(first.main / r.main).toFixed(2)}x (main thread)   ${(first.all / r.all).toFixed(2)}x (all threads)`,
    );
  }
}
