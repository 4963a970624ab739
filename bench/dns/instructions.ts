/**
 * `npm run bench -- dns --instructions`: every server counted in CPU instructions per answered
 * query under valgrind's callgrind instead of timed (the timed ratio moved between 0.79× and
 * 0.91× with other work on this 2-core machine; counts repeat closely).
 *
 * Servers: ours (lean path on), ours with MZ_DNS_LEAN_PATH=0 (the full stage chain for every
 * miss: the "before" of the lean path in the same run), the Node ceiling, and PowerDNS and
 * gdnsd with the single-thread settings of the timed bench (when installed and DNS_BENCH_PEERS
 * is not 0), and with DNS_BENCH_BASE=DIR the serve-ours.ts of another checkout of this
 * repository (the commit before a change, run with this checkout's loader). Each starts under callgrind and is measured twice, with OUTSTANDING queries
 * always in flight — saturated, so each wake-up reads a backlog as in the timed bench:
 *  - hits: the hit file once as warm-up (JIT; our reply cache sees every key), counters
 *    zeroed, the same file again, counters dumped;
 *  - misses: a file of keys it has not seen as warm-up (the miss path's JIT), counters
 *    zeroed, a second file of keys it has not seen either (every query a reply-cache miss:
 *    lookup, steering, encoding and the store), counters dumped.
 * "main" is the event-loop thread (Node only); "all" adds V8's background threads (compiles
 * still finishing in the window, GC) and, for the peers, all of their threads.
 */
import { spawnSync } from 'node:child_process';
import { CallgrindRun, haveValgrind } from '../support/callgrind.ts';
import { dnsperfArgs, freePort, gdnsdCommand, powerDnsCommand } from './peers.ts';

/** Queries in flight: the server always has a backlog (as when saturated in the timed bench), and
 * the socket buffer holds them all, so none is dropped. */
const OUTSTANDING = 100;

/** Query files (dnsperf -B). */
export interface InstructionFiles {
  /** Warm-up and counted pass for hits (the same file twice). */
  hits: string;
  /** Keys not in `hits` nor in `missCount`: warms the miss path. */
  missWarm: string;
  /** Keys seen nowhere else, each once: every query misses the reply cache. */
  missCount: string;
}

interface Counted {
  all: number;
  main: number;
  answered: number;
}

interface Server {
  name: string;
  /** A bench script run by node (native: false) or a peer's command line. */
  cmd: (port: number) => string[];
  native: boolean;
  env?: NodeJS.ProcessEnv;
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

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

async function count(s: Server, files: InstructionFiles, dir: string): Promise<{ hits: Counted; misses: Counted }> {
  const port = await freePort();
  const run = new CallgrindRun(dir, s.name, s.cmd(port), { native: s.native, env: s.env ?? process.env });
  const c = run.child;
  try {
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`${s.name} exited ${c.exitCode} under valgrind`);
      const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', 'api.shop.test'], {
        encoding: 'utf8',
      });
      if (/status: NOERROR/.test(r.stdout ?? '')) break;
      if (Date.now() > deadline) throw new Error(`${s.name} did not answer in 300 s under valgrind`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    const measure = (warm: string, counted: string): Counted => {
      dnsperfOnce(port, warm);
      run.zero();
      const answered = dnsperfOnce(port, counted);
      const n = run.dump();
      return { all: n.all / answered, main: n.main / answered, answered };
    };
    const hits = measure(files.hits, files.hits);
    const misses = measure(files.missWarm, files.missCount);
    return { hits, misses };
  } finally {
    run.kill();
  }
}

const fmt = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : '-');

/** Counts every server and prints instructions per query and the ratios. `mmdb`: the peers' database, or null to skip them. */
export async function measureInstructions(
  files: InstructionFiles,
  sizes: { hits: number; misses: number },
  dir: string,
  mmdb: string | null,
): Promise<void> {
  if (!haveValgrind()) {
    console.log('valgrind is not installed (Debian valgrind): no instruction counts');
    return;
  }
  const servers: Server[] = [
    { name: 'ours', cmd: (p) => ['bench/dns/serve-ours.ts', String(p)], native: false },
    {
      name: 'ours (full path)',
      cmd: (p) => ['bench/dns/serve-ours.ts', String(p)],
      native: false,
      env: { ...process.env, MZ_DNS_LEAN_PATH: '0' },
    },
    { name: 'node ceiling', cmd: (p) => ['bench/dns/node-ceiling.ts', String(p)], native: false },
  ];
  // another checkout's server (say, the commit before a change), counted alike: before and after in one run
  const base = process.env.DNS_BENCH_BASE;
  if (base)
    servers.splice(2, 0, {
      name: 'ours (base)',
      cmd: (p) => [`${base}/bench/dns/serve-ours.ts`, String(p)],
      native: false,
    });
  if (mmdb !== null) {
    if (have('pdns_server'))
      servers.push({ name: 'PowerDNS geoip', cmd: (p) => powerDnsCommand(dir, mmdb, p), native: true });
    else console.log('(pdns_server not installed: skipped)');
    if (have('gdnsd')) servers.push({ name: 'gdnsd geoip', cmd: (p) => gdnsdCommand(dir, mmdb, p), native: true });
    else console.log('(gdnsd not installed: skipped)');
  }
  console.log(
    `instructions per answered query under callgrind (hits: ${sizes.hits} queries warm-up, then the same counted; misses: ${sizes.misses} new keys warm-up, ${sizes.misses} other new keys counted)…`,
  );
  console.log(
    `  ${'server'.padEnd(18)} ${'hit main'.padStart(9)} ${'hit all'.padStart(9)} ${'miss main'.padStart(10)} ${'miss all'.padStart(9)}`,
  );
  const results = new Map<string, { hits: Counted; misses: Counted }>();
  for (const s of servers) {
    try {
      const r = await count(s, files, dir);
      results.set(s.name, r);
      console.log(
        `  ${s.name.padEnd(18)} ${fmt(r.hits.main).padStart(9)} ${fmt(r.hits.all).padStart(9)} ${fmt(r.misses.main).padStart(10)} ${fmt(r.misses.all).padStart(9)}   (${r.hits.answered} + ${r.misses.answered} answered)`,
      );
    } catch (e) {
      console.log(`  ${s.name.padEnd(18)} failed under valgrind: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const ours = results.get('ours');
  if (!ours) return;
  console.log("\nratios in queries per instruction (= other server's instructions / ours), hits | misses:");
  for (const [name, goal, key] of [
    ['node ceiling', '(goal ≥ 0.9×)', 'main'],
    ['node ceiling', '(goal ≥ 0.9×)', 'all'],
    ['PowerDNS geoip', '(goal ≥ 2×)', 'all'],
    ['gdnsd geoip', '', 'all'],
    ['ours (full path)', "(the lean path's gain)", 'all'],
    ['ours (base)', '(gain over DNS_BENCH_BASE)', 'all'],
  ] as const) {
    const o = results.get(name);
    if (!o) continue;
    const r = (k: 'hits' | 'misses') => `${(o[k][key] / ours[k][key]).toFixed(2)}×`;
    console.log(
      `  ours / ${name.padEnd(16)} (${key.padEnd(4)}): ${r('hits').padStart(6)} | ${r('misses').padStart(6)}   ${goal}`,
    );
  }
}
