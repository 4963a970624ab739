/**
 * `npm run bench -- httpdns`: requests/s on one core.
 *  A. HTTP/1.1 (h2load --h1, 50 connections; autocannon's own core was the limit for POST): our /d, DoH GET and DoH POST next to a bare
 *     node:http server answering a fixed JSON (the Node ceiling).
 *  B. DoH over TLS + HTTP/2 (h2load, 10 connections × 10 streams): ours next to dnsdist's DoH
 *     (Debian dnsdist, answering the same A records from its own SpoofAction rule) and next to
 *     the Node ceiling for it: node:http2 over TLS answering every stream with one fixed DNS
 *     message (what Node's TLS and HTTP/2 cost before any DoH work).
 * Servers run under `taskset -c 0`, load generators under `taskset -c 1`; targets alternate
 * within each round; medians of BENCH_ROUNDS (3) runs of BENCH_SECONDS (5) each.
 * `--instructions`: section A counted in instructions per request under callgrind instead
 * (bench/httpdns/instructions.ts), steady whatever else the machine runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import dnsPacket from 'dns-packet';
import { makeDevCert } from '../../src/edge/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const dir = mkdtempSync(join(tmpdir(), 'mz-bench-httpdns-'));
const children: ChildProcess[] = [];
/** Seconds per load run: 1 during the warm-up, then SECONDS. */
let duration = 1;

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/** Runs a load generator; killed if it outlives its duration by 60 s (a hung peer must not hang the bench). */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const guard = setTimeout(() => c.kill('SIGKILL'), (duration + 60) * 1000);
    c.on('close', () => clearTimeout(guard));
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`)),
    );
  });
}

/** utime + stime of a process (all its threads), in seconds; NaN when unreadable. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in USER_HZ ticks
  } catch {
    return Number.NaN;
  }
}

const pids = new Map<number, number | undefined>();

/** Starts a child pinned to core 0 that prints {"port":N}. */
function startNode(args: string[]): Promise<number> {
  const c = spawn(
    'taskset',
    ['-c', '0', process.execPath, '--import', './bin/ts.mjs', 'bench/httpdns/servers.ts', ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MZ_LOG_LEVEL: 'silent' },
    },
  );
  children.push(c);
  return new Promise((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`server ${args.join(' ')} did not start in 120 s`)), 120_000);
    const rl = createInterface({ input: c.stdout! });
    rl.once('line', (l) => {
      clearTimeout(guard);
      const port = JSON.parse(l).port as number;
      pids.set(port, c.pid); // taskset execs the server: same pid
      resolve(port);
    });
    c.once('exit', (code) => reject(new Error(`server ${args.join(' ')} exited ${code}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function startDnsdist(certDir: string): Promise<number | null> {
  const port = await freePort();
  const conf = join(dir, 'dnsdist.conf');
  writeFileSync(
    conf,
    `setSecurityPollSuffix('')
addDOHLocal('127.0.0.1:${port}', '${join(certDir, 'cert.pem')}', '${join(certDir, 'key.pem')}', '/dns-query')
addAction(QNameRule('api.shop.test'), SpoofAction({'127.0.3.1', '127.0.1.1'}))
addAction(AllRule(), RCodeAction(DNSRCode.REFUSED))
`,
  );
  const c = spawn('taskset', ['-c', '0', 'dnsdist', '--supervised', '--disable-syslog', '-C', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(c);
  pids.set(port, c.pid);
  let failed = false;
  c.once('error', () => (failed = true));
  c.once('exit', () => (failed = true));
  for (let i = 0; i < 50 && !failed; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    }).catch(() => false);
    if (up) return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

interface Result {
  rps: number;
  bad: number;
  /** Requests answered per second of the server's own CPU time (steadier when the machine is shared). */
  perCpu: number;
}

/** h2load (nghttp2-client) on core 1: HTTP/1.1 with `h1` (50 connections), else HTTP/2 (10 × 10 streams). */
async function h2load(url: string, opts: { post?: string; h1?: boolean; seconds?: number } = {}): Promise<Result> {
  const args = ['-c', '1', 'h2load', '-D', String(opts.seconds ?? duration)];
  args.push(...(opts.h1 ? ['--h1', '-c', '50'] : ['-c', '10', '-m', '10']));
  if (opts.post) args.push('-d', opts.post, '-H', 'content-type: application/dns-message');
  const pid = pids.get(Number(new URL(url).port));
  const cpu0 = cpuSeconds(pid);
  const out = await run('taskset', [...args, url]);
  const cpu = cpuSeconds(pid) - cpu0;
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? 'NaN');
  const m = /(\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const non2xx = /status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const bad =
    (m ? Number(m[2]) + Number(m[3]) : 1) + (non2xx ? Number(non2xx[1]) + Number(non2xx[2]) + Number(non2xx[3]) : 1);
  return { rps, bad, perCpu: (m ? Number(m[1]) : Number.NaN) / cpu };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

// --- setup
const cert = await makeDevCert(['localhost']);
writeFileSync(join(dir, 'cert.pem'), cert.cert);
writeFileSync(join(dir, 'key.pem'), cert.key);
const q = dnsPacket.encode({
  type: 'query',
  id: 0,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ type: 'A', name: 'api.shop.test', class: 'IN' }],
});
const qFile = join(dir, 'query.bin');
writeFileSync(qFile, q);
const dnsParam = q.toString('base64url');

if (process.argv.includes('--instructions')) {
  const { measureInstructions } = await import('./instructions.ts');
  await measureInstructions(
    [
      { name: 'bare node:http fixed JSON', kind: 'bare', path: '/d' },
      { name: 'ours /d (geo, 1 host)', kind: 'ours', path: '/d?host=api.shop.test&ip=1.2.4.8' },
      { name: 'ours DoH GET', kind: 'ours', path: `/dns-query?dns=${dnsParam}` },
      { name: 'ours DoH POST', kind: 'ours', path: '/dns-query', post: qFile },
    ],
    dir,
  );
  cleanup();
  process.exit(0);
}

console.log('starting servers…');
const ours = await startNode(['ours']);
const oursTls = await startNode(['ours', '--tls', dir]);
const bare = await startNode(['bare']);
const bareH2 = await startNode(['bare-h2', dir]);
const dnsdist = await startDnsdist(dir);
if (dnsdist === null) console.log('dnsdist did not start (is Debian dnsdist installed?): section B shows ours only');

type Target = { name: string; group: 'A' | 'B'; go: () => Promise<Result> };
/** Section B's pair for one server: DoH GET and POST over TLS + HTTP/2, named `<who> DoH GET<suffix>`. */
const dohOverH2 = (who: string, port: number, suffix = ''): Target[] => [
  {
    name: `${who} DoH GET${suffix}`,
    group: 'B',
    go: () => h2load(`https://127.0.0.1:${port}/dns-query?dns=${dnsParam}`),
  },
  {
    name: `${who} DoH POST${suffix}`,
    group: 'B',
    go: () => h2load(`https://127.0.0.1:${port}/dns-query`, { post: qFile }),
  },
];
const targets: Target[] = [
  { name: 'bare node:http fixed JSON', group: 'A', go: () => h2load(`http://127.0.0.1:${bare}/d`, { h1: true }) },
  {
    name: 'ours /d (geo, 1 host)',
    group: 'A',
    go: () => h2load(`http://127.0.0.1:${ours}/d?host=api.shop.test&ip=1.2.4.8`, { h1: true }),
  },
  {
    name: 'ours DoH GET',
    group: 'A',
    go: () => h2load(`http://127.0.0.1:${ours}/dns-query?dns=${dnsParam}`, { h1: true }),
  },
  {
    name: 'ours DoH POST',
    group: 'A',
    go: () => h2load(`http://127.0.0.1:${ours}/dns-query`, { h1: true, post: qFile }),
  },
  ...dohOverH2('ours', oursTls, ' (h2+TLS)'),
  ...dohOverH2('bare node:http2', bareH2),
];
if (dnsdist !== null) targets.push(...dohOverH2('dnsdist', dnsdist, ' (h2+TLS)'));

// warm-up (JIT, TLS session setup): one short discarded run per target
console.log('warming up…');
for (const t of targets) await t.go();
duration = SECONDS;
const results = new Map<string, Result[]>();
for (let round = 1; round <= ROUNDS; round++) {
  for (const t of targets) {
    const r = await t.go();
    if (!results.has(t.name)) results.set(t.name, []);
    results.get(t.name)!.push(r);
    console.log(
      `round ${round}  ${t.name.padEnd(28)} ${Math.round(r.rps).toString().padStart(7)} req/s${r.bad ? `  (${r.bad} not 2xx!)` : ''}`,
    );
  }
}

const med = (name: string) => median((results.get(name) ?? []).map((r) => r.rps));
const medCpu = (name: string) => median((results.get(name) ?? []).map((r) => r.perCpu));
const line = (name: string) =>
  `${name.padEnd(28)} ${Math.round(med(name)).toString().padStart(7)} req/s ${Math.round(medCpu(name)).toString().padStart(7)} req/CPU-s   runs: ${(
    results.get(name) ?? []
  )
    .map((r) => Math.round(r.rps))
    .join(', ')}`;
console.log(`\nA. HTTP/1.1, h2load --h1 -c 50, ${SECONDS}s × ${ROUNDS} (server core 0, load core 1), medians`);
for (const t of targets.filter((x) => x.group === 'A')) console.log(line(t.name));
const ceiling = med('bare node:http fixed JSON');
// each round's ratio compares runs seconds apart, which share the machine's state better than medians of whole columns
const roundRatios = (n: string) => {
  const b = results.get('bare node:http fixed JSON') ?? [];
  return (results.get(n) ?? []).map((r, i) => r.rps / (b[i]?.rps ?? Number.NaN));
};
for (const n of ['ours /d (geo, 1 host)', 'ours DoH GET', 'ours DoH POST'])
  console.log(
    `  ${n} / Node ceiling = ${(med(n) / ceiling).toFixed(2)} (req/s) | ${(medCpu(n) / medCpu('bare node:http fixed JSON')).toFixed(2)} (per CPU-second) | ${median(roundRatios(n)).toFixed(2)} (median of rounds: ${roundRatios(
      n,
    )
      .map((x) => x.toFixed(2))
      .join(', ')})   goal ≥ 0.7`,
  );
console.log(
  '  (timed ratios move with whatever else runs on the machine; `npm run bench -- httpdns --instructions` counts instructions instead)',
);
console.log(`\nB. DoH over TLS + HTTP/2, h2load -c 10 -m 10, ${SECONDS}s × ${ROUNDS}, medians`);
for (const t of targets.filter((x) => x.group === 'B')) console.log(line(t.name));
if (dnsdist !== null)
  for (const m of ['GET', 'POST'])
    console.log(
      `  ours / dnsdist DoH ${m} = ${(med(`ours DoH ${m} (h2+TLS)`) / med(`dnsdist DoH ${m} (h2+TLS)`)).toFixed(2)} (req/s) | ${(medCpu(`ours DoH ${m} (h2+TLS)`) / medCpu(`dnsdist DoH ${m} (h2+TLS)`)).toFixed(2)} (per CPU-second)`,
    );
for (const m of ['GET', 'POST'])
  console.log(
    `  ours / Node http2 ceiling DoH ${m} = ${(med(`ours DoH ${m} (h2+TLS)`) / med(`bare node:http2 DoH ${m}`)).toFixed(2)} (req/s) | ${(medCpu(`ours DoH ${m} (h2+TLS)`) / medCpu(`bare node:http2 DoH ${m}`)).toFixed(2)} (per CPU-second)` +
      (dnsdist !== null
        ? `; the ceiling / dnsdist = ${(med(`bare node:http2 DoH ${m}`) / med(`dnsdist DoH ${m} (h2+TLS)`)).toFixed(2)} | ${(medCpu(`bare node:http2 DoH ${m}`) / medCpu(`dnsdist DoH ${m} (h2+TLS)`)).toFixed(2)}`
        : ''),
  );
const bad = [...results.entries()].filter(([, rs]) => rs.some((r) => r.bad > 0)).map(([n]) => n);
if (bad.length) console.log(`\nWARNING: non-2xx answers from ${bad.join(', ')}`);
cleanup();
process.exit(0);
