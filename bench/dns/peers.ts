// Config writers and launchers for the DNS benchmark's servers: ours, the Node ceiling,
// PowerDNS (geoip backend) and gdnsd (geoip plugin). Each binds 127.0.0.1 on a port above
// 10000, pinned to core 0, and is stopped by the bench.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { BenchSubnet } from './queries.ts';

/** A server under test. */
export interface Running {
  name: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
  /** What the process printed (first 20 kB and the last lines). */
  output(): string;
}

/**
 * The answers every server gives per region, mirroring the default topology's `nearest`
 * policy with `answers: 2` (edge listeners of bj-a 127.0.3.1, sh-a 127.0.1.1, sh-b 127.0.2.1,
 * gz-a 127.0.4.1). Ours picks the second address within a tier per client (sticky); the
 * peers answer these fixed pairs.
 */
export const REGION_ANSWERS = {
  north: ['127.0.3.1', '127.0.2.1'],
  south: ['127.0.4.1', '127.0.1.1'],
  east: ['127.0.1.1', '127.0.2.1'],
  default: ['127.0.2.1', '127.0.1.1'],
} as const;
/** The MaxMind subdivision code each region's networks get in the peers' mmdb. */
const REGION_SUB = { north: 'BJ', south: 'GD', east: 'SH' } as const;

/** dnsperf's arguments for a server on 127.0.0.1:port and a binary (-B) query file, then `extra`. */
export function dnsperfArgs(port: number, file: string, ...extra: string[]): string[] {
  return ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-B', ...extra];
}

/** A free TCP+UDP-able port above 10000 (asks the kernel for one until it is > 10000). */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    if (p > 10000) return p;
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      // a stuck peer gets SIGKILL after 3 s
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
}

/** Starts a command pinned to core 0 and waits until `ready()` says it answers. */
async function launch(
  name: string,
  port: number,
  cmd: string[],
  ready: () => Promise<boolean>,
  log: string,
): Promise<Running> {
  const child = spawn('taskset', ['-c', SERVER_CORES, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const r: Running = { name, port, child, stop: stopper(child), output: () => out };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await ready()) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  await r.stop();
  writeFileSync(log, out);
  throw new Error(`${name} did not start (log: ${log})\n${out.slice(-2000)}`);
}

/** True when the server at port answers a plain query for the apex SOA. */
export function answersSoa(port: number): Promise<boolean> {
  const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', 'shop.test', 'SOA'], {
    encoding: 'utf8',
  });
  return Promise.resolve(/status: NOERROR/.test(r.stdout ?? ''));
}

/** The cores servers are pinned to (DNS_BENCH_CORES, default core 0). */
export const SERVER_CORES = process.env.DNS_BENCH_CORES ?? '0';

export async function startOurs(dir: string, opts: { cache: boolean; workers?: number }): Promise<Running> {
  const port = await freePort();
  const args = ['node', '--import', './bin/ts.mjs', 'bench/dns/serve-ours.ts', String(port)];
  if (!opts.cache) args.push('--no-cache');
  const workers = opts.workers ?? 1;
  if (workers > 1) args.push('--workers', String(workers));
  const name = `${opts.cache ? 'ours' : 'ours (cache off)'}${workers > 1 ? ` ×${workers}` : ''}`;
  return launch(name, port, args, () => answersSoa(port), join(dir, 'ours.log'));
}

export async function startCeiling(dir: string): Promise<Running> {
  const port = await freePort();
  // the ceiling answers everything with one fixed reply, so probe it with any query
  const ready = () => {
    const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', 'api.shop.test'], {
      encoding: 'utf8',
    });
    return Promise.resolve(/status: NOERROR/.test(r.stdout ?? ''));
  };
  return launch(
    'node ceiling',
    port,
    ['node', '--import', './bin/ts.mjs', 'bench/dns/node-ceiling.ts', String(port)],
    ready,
    join(dir, 'ceiling.log'),
  );
}

/** Writes the peers' mmdb: one /24 per bench subnet, with its region's subdivision. */
export function writeMmdb(dir: string, subnets: readonly BenchSubnet[]): string {
  // plus the two subnets the sanity check asks about
  const all: BenchSubnet[] = [...subnets, { net: '1.2.4.0', rule: 'north' }, { net: '202.96.128.0', rule: 'south' }];
  const seen = new Set<string>();
  const lines = all
    .filter((s) => !seen.has(s.net) && seen.add(s.net))
    .map((s) => (s.rule === 'default' ? `${s.net}/24 US NA` : `${s.net}/24 CN AS ${REGION_SUB[s.rule]}`));
  const file = join(dir, 'bench.mmdb');
  const r = spawnSync('perl', ['bench/dns/write-mmdb.pl', file], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
  if (r.status !== 0) {
    const hint = /MaxMind\/DB\/Writer/.test(r.stderr ?? '')
      ? ' (install Debian libmaxmind-db-writer-perl, or run with DNS_BENCH_PEERS=0)'
      : '';
    throw new Error(`write-mmdb.pl failed${hint}: ${r.stderr}`);
  }
  return file;
}

export async function startPowerDns(dir: string, mmdb: string): Promise<Running> {
  const port = await freePort();
  return launch(
    'PowerDNS geoip',
    port,
    powerDnsCommand(dir, mmdb, port),
    () => answersSoa(port),
    join(dir, 'pdns.log'),
  );
}

/** Writes PowerDNS's config (geoip backend, one receiver and one distributor thread) for port; returns its command. */
export function powerDnsCommand(dir: string, mmdb: string, port: number): string[] {
  const d = join(dir, 'pdns');
  mkdirSync(d, { recursive: true });
  const rec = (name: string, ips: readonly string[]) =>
    `    ${name}:\n${ips.map((ip) => `      - a: ${ip}`).join('\n')}\n`;
  let records =
    '    shop.test:\n      - soa: ns1.shop.test hostmaster.shop.test 1 3600 600 604800 60\n      - ns: ns1.shop.test\n';
  records += rec('ns1.shop.test', ['127.0.0.1']);
  for (const svc of ['api', 'static']) {
    for (const [region, sub] of Object.entries(REGION_SUB))
      records += rec(`${sub.toLowerCase()}.${svc}.shop.test`, REGION_ANSWERS[region as keyof typeof REGION_SUB]);
    records += rec(`default.${svc}.shop.test`, REGION_ANSWERS.default);
  }
  writeFileSync(
    join(d, 'zones.yaml'),
    `domains:
- domain: shop.test
  ttl: 60
  records:
${records}  services:
    api.shop.test: [ '%re.api.shop.test', 'default.api.shop.test' ]
    static.shop.test: [ '%re.static.shop.test', 'default.static.shop.test' ]
`,
  );
  writeFileSync(
    join(d, 'pdns.conf'),
    `launch=geoip
geoip-database-files=mmdb:${mmdb}
geoip-zones-file=${join(d, 'zones.yaml')}
edns-subnet-processing=yes
local-address=127.0.0.1
local-port=${port}
receiver-threads=1
distributor-threads=1
reuseport=no
security-poll-suffix=
socket-dir=${d}
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
loglevel=3
`,
  );
  return ['pdns_server', `--config-dir=${d}`];
}

export async function startGdnsd(dir: string, mmdb: string): Promise<Running> {
  const port = await freePort();
  return launch('gdnsd geoip', port, gdnsdCommand(dir, mmdb, port), () => answersSoa(port), join(dir, 'gdnsd.log'));
}

/** Writes gdnsd's config (geoip plugin, one UDP and one TCP thread) for port; returns its command. */
export function gdnsdCommand(dir: string, mmdb: string, port: number): string[] {
  const d = join(dir, 'gdnsd');
  mkdirSync(join(d, 'zones'), { recursive: true });
  mkdirSync(join(d, 'geoip'), { recursive: true });
  const dcmap = (r: readonly string[]) => `[ ${r.join(', ')} ]`;
  writeFileSync(
    join(d, 'config'),
    `options => {
  listen => [ 127.0.0.1 ]
  dns_port => ${port}
  udp_threads => 1
  tcp_threads => 1
  run_dir => ${join(d, 'run')}
  state_dir => ${join(d, 'state')}
}
plugins => { geoip => {
  maps => {
    bench => {
      geoip2_db => ${mmdb}
      datacenters => [ north, south, east, other ]
      map => {
        default => [ other ]
        AS => { CN => { BJ => [ north ], GD => [ south ], SH => [ east ] } }
      }
    }
  }
  resources => {
    svc => {
      map => bench
      dcmap => {
        north => ${dcmap(REGION_ANSWERS.north)}
        south => ${dcmap(REGION_ANSWERS.south)}
        east => ${dcmap(REGION_ANSWERS.east)}
        other => ${dcmap(REGION_ANSWERS.default)}
      }
    }
  }
}}
`,
  );
  writeFileSync(
    join(d, 'zones', 'shop.test'),
    `$TTL 3600
@ SOA ns1 hostmaster 1 3600 600 604800 60
@ NS ns1
ns1 A 127.0.0.1
api 60 DYNA geoip!svc
static 60 DYNA geoip!svc
`,
  );
  return ['gdnsd', '-c', d, 'start'];
}
