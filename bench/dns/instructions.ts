/**
 * `npm run bench -- dns --instructions`: ours and the Node ceiling counted in CPU instructions
 * per answered query under valgrind's callgrind instead of timed (the timed ratio moved
 * between 0.79× and 0.91× with other work on this 2-core machine; counts repeat closely).
 *
 * Per server: it starts under callgrind, answers the query file once with OUTSTANDING queries
 * always in flight — saturated, so each wake-up reads a backlog as in the timed bench (warm-up:
 * JIT, and our reply cache sees every key, as in the timed bench), the
 * counters are zeroed, it answers the file once more, and the counters are dumped. "main" is
 * the event-loop thread; "all" adds V8's background threads (compiles still finishing in the
 * window, GC).
 */
import { spawnSync } from 'node:child_process';
import { CallgrindRun, haveValgrind } from '../support/callgrind.ts';
import { dnsperfArgs, freePort } from './peers.ts';

/** Queries in flight: the server always has a backlog (as when saturated in the timed bench), and
 * the socket buffer holds them all, so none is dropped. */
const OUTSTANDING = 100;

interface Counted {
  all: number;
  main: number;
  answered: number;
}

function dnsperfOnce(port: number, file: string): number {
  const r = spawnSync(
    'dnsperf',
    dnsperfArgs(port, file, '-n', '1', '-c', '10', '-q', String(OUTSTANDING), '-t', '30'),
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const completed = /Queries completed:\s+(\d+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !completed) throw new Error(`dnsperf failed: ${r.stdout}${r.stderr}`);
  return Number(completed[1]);
}

async function count(name: string, script: string, file: string, dir: string): Promise<Counted> {
  const port = await freePort();
  const run = new CallgrindRun(dir, name, [script, String(port)]);
  const c = run.child;
  try {
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`${name} exited ${c.exitCode} under valgrind`);
      const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', 'api.shop.test'], {
        encoding: 'utf8',
      });
      if (/status: NOERROR/.test(r.stdout ?? '')) break;
      if (Date.now() > deadline) throw new Error(`${name} did not answer in 300 s under valgrind`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    dnsperfOnce(port, file);
    run.zero();
    const answered = dnsperfOnce(port, file);
    const n = run.dump();
    return { all: n.all / answered, main: n.main / answered, answered };
  } finally {
    run.kill();
  }
}

/** `file`: dnsperf -B query file. */
export async function measureInstructions(file: string, queries: number, dir: string): Promise<void> {
  if (!haveValgrind()) {
    console.log('valgrind is not installed (Debian valgrind): no instruction counts');
    return;
  }
  console.log(`instructions per answered query under callgrind (${queries} queries warm-up, then the same counted)…`);
  const ours = await count('ours', 'bench/dns/serve-ours.ts', file, dir);
  console.log(
    `  ours           main ${Math.round(ours.main)}   all ${Math.round(ours.all)}   (${ours.answered} answered)`,
  );
  const ceiling = await count('node ceiling', 'bench/dns/node-ceiling.ts', file, dir);
  console.log(
    `  node ceiling   main ${Math.round(ceiling.main)}   all ${Math.round(ceiling.all)}   (${ceiling.answered} answered)`,
  );
  console.log(
    `ours / Node ceiling in queries per instruction: ${(ceiling.main / ours.main).toFixed(2)}× (main thread)   ${(ceiling.all / ours.all).toFixed(2)}× (all threads)   (goal ≥ 0.8×)`,
  );
}
