/**
 * `npm run bench -- httpdns --instructions`: the same HTTP/1.1 targets counted in CPU
 * instructions per request under valgrind's callgrind instead of timed. On this 2-core machine
 * (siblings of one physical core) the timed ceiling moved between 40k and 65k req/s from one
 * run to the next with other work on the machine; instruction counts repeat to a few hundred
 * per request whatever else runs.
 *
 * Per target: the server starts under callgrind, takes WARM requests (h2load --h1 -c 50) so
 * the JIT settles, the counters are zeroed, it takes COUNT more, and the counters are dumped.
 * "main" is the event-loop thread (what limits one core's throughput in the steady state);
 * "all" adds V8's background threads — mostly optimizing compiles still finishing in the
 * window (slowed 50× by valgrind, they do not end in a few seconds as they do natively) and
 * concurrent GC marking.
 */
import { spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CallgrindRun, haveValgrind } from '../support/callgrind.ts';

const WARM = 30_000;
const COUNT = 20_000;

export interface InstructionTarget {
  name: string;
  kind: 'bare' | 'ours';
  path: string;
  /** File with a POST body (application/dns-message). */
  post?: string;
}

interface Counted {
  all: number;
  main: number;
}

function h2load(url: string, n: number, post?: string): void {
  const args = ['--h1', '-c', '50', '-n', String(n)];
  if (post) args.push('-d', post, '-H', 'content-type: application/dns-message');
  const r = spawnSync('h2load', [...args, url], { encoding: 'utf8' });
  const ok = /(\d+) succeeded/.exec(r.stdout ?? '');
  if (r.status !== 0 || !ok || Number(ok[1]) !== n) throw new Error(`h2load ${url}: ${r.stdout}${r.stderr}`);
}

async function count(t: InstructionTarget, dir: string): Promise<Counted> {
  const run = new CallgrindRun(dir, t.kind, ['bench/httpdns/servers.ts', t.kind], {
    stdout: 'pipe',
    env: { ...process.env, MZ_LOG_LEVEL: 'silent' },
  });
  const c = run.child;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`${t.name}: no port in 300 s under valgrind`)), 300_000);
      createInterface({ input: c.stdout! }).once('line', (l) => {
        clearTimeout(guard);
        resolve(JSON.parse(l).port as number);
      });
      c.once('exit', (code) => reject(new Error(`${t.name}: server exited ${code}`)));
    });
    const url = `http://127.0.0.1:${port}${t.path}`;
    h2load(url, WARM, t.post);
    run.zero();
    h2load(url, COUNT, t.post);
    const n = run.dump();
    return { all: n.all / COUNT, main: n.main / COUNT };
  } finally {
    run.kill();
  }
}

export async function measureInstructions(targets: InstructionTarget[], dir: string): Promise<void> {
  if (!haveValgrind()) {
    console.log('valgrind is not installed (Debian valgrind): no instruction counts');
    return;
  }
  console.log(`instructions per request under callgrind (${WARM} warm-up requests, then ${COUNT} counted)…`);
  const results = new Map<string, Counted>();
  for (const t of targets) {
    const r = await count(t, dir);
    results.set(t.name, r);
    console.log(
      `  ${t.name.padEnd(28)} main ${Math.round(r.main).toString().padStart(7)}   all ${Math.round(r.all).toString().padStart(7)}`,
    );
  }
  const bare = results.get(targets.find((t) => t.kind === 'bare')!.name)!;
  console.log(
    "\nours / Node ceiling in requests per instruction (the ceiling's instructions per request ÷ ours; goal ≥ 0.7):",
  );
  for (const t of targets.filter((x) => x.kind === 'ours')) {
    const r = results.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(28)} ${(bare.main / r.main).toFixed(2)} (main thread)   ${(bare.all / r.all).toFixed(2)} (all threads)`,
    );
  }
}
