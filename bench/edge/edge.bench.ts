/**
 * Edge cache hits: our edge against nginx (proxy_cache) and Varnish, plus a bare node:http
 * server serving the same bytes from memory (the ceiling). Each server runs pinned to core 0,
 * wrk to core 1 (`taskset -c 1 wrk -t1 -c50 -d10s`), servers alternate within each round, and
 * the medians of the rounds are printed with ratios. Peers use their own configs under a temp
 * dir, bind 127.0.0.1 on ports above 10000, and are stopped at the end.
 *
 *   npm run bench -- edge [--duration 10] [--rounds 3] [--only edge,bare]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'mz-edge-bench-'));
const base = 20000 + (process.pid % 5000) * 2;
const PORTS = { origin: base + 1, bare: base + 2, edge: base + 3, nginx: base + 4, varnish: base + 5 };
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function has(bin: string): boolean {
  try {
    execFileSync('which', [bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function start(name: string, cmd: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const c = spawn('taskset', ['-c', '0', ...cmd], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    detached: false,
  });
  c.stderr?.on('data', (d: Buffer) => {
    const s = d.toString();
    if (!/ExperimentalWarning|--trace-warnings/.test(s)) process.stderr.write(`[${name}] ${s}`);
  });
  children.push(c);
  return c;
}

async function waitHttp(url: string, tries = 600): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await sleep(100);
  }
  throw new Error(`not answering: ${url}`);
}

function wrk(url: string): number {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', '-c50', `-d${duration}s`, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) console.error(`  (wrk ${url}: ${errors[0]})`);
  return m ? Number(m[1]) : 0;
}

const runTs = [process.execPath, '--import', './bin/ts.mjs', 'bench/edge/servers.ts'];

function nginxConf(): string {
  const p = join(dir, 'nginx');
  execFileSync('mkdir', ['-p', join(p, 'cache'), join(p, 'tmp')]);
  const conf = `worker_processes 1;
daemon off;
master_process on;
pid ${p}/nginx.pid;
error_log ${p}/error.log warn;
user root;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path ${p}/tmp/body;
  proxy_temp_path ${p}/tmp/proxy;
  fastcgi_temp_path ${p}/tmp/fcgi;
  uwsgi_temp_path ${p}/tmp/uwsgi;
  scgi_temp_path ${p}/tmp/scgi;
  proxy_cache_path ${p}/cache keys_zone=edge:10m max_size=256m;
  upstream origin { server 127.0.0.1:${PORTS.origin}; keepalive 16; }
  server {
    listen 127.0.0.1:${PORTS.nginx};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
    }
  }
}
`;
  const f = join(p, 'nginx.conf');
  writeFileSync(f, conf);
  return f;
}

type Name = 'bare' | 'edge' | 'nginx' | 'varnish';

async function main(): Promise<void> {
  const want = new Set((values.only ?? 'bare,edge,nginx,varnish').split(','));
  const servers: { name: Name; url: string }[] = [];
  start('origin', [...runTs, 'origin', String(PORTS.origin)]);
  await waitHttp(`http://127.0.0.1:${PORTS.origin}/1k`);
  if (want.has('bare')) {
    start('bare', [...runTs, 'bare', String(PORTS.bare)]);
    servers.push({ name: 'bare', url: `http://127.0.0.1:${PORTS.bare}` });
  }
  if (want.has('edge')) {
    start('edge', [...runTs, 'edge', String(PORTS.edge), `http://127.0.0.1:${PORTS.origin}`]);
    servers.push({ name: 'edge', url: `http://127.0.0.1:${PORTS.edge}` });
  }
  if (want.has('nginx') && has('nginx')) {
    start('nginx', ['nginx', '-c', nginxConf()]);
    servers.push({ name: 'nginx', url: `http://127.0.0.1:${PORTS.nginx}` });
  } else if (want.has('nginx')) console.log('(nginx not installed: skipped)');
  if (want.has('varnish') && has('varnishd')) {
    start('varnish', [
      'varnishd',
      '-F',
      '-j',
      'none',
      '-n',
      join(dir, 'varnish'),
      '-a',
      `127.0.0.1:${PORTS.varnish}`,
      '-b',
      `127.0.0.1:${PORTS.origin}`,
      '-s',
      'malloc,256m',
      '-p',
      'default_ttl=0',
      '-p',
      'default_grace=0',
      '-p',
      'default_keep=3600',
      '-p',
      'thread_pools=1',
      '-T',
      'none',
    ]);
    servers.push({ name: 'varnish', url: `http://127.0.0.1:${PORTS.varnish}` });
  } else if (want.has('varnish')) console.log('(varnishd not installed: skipped)');

  for (const s of servers) {
    await waitHttp(`${s.url}/1k`);
    // warm: the first request is the miss that fills each cache
    for (const p of ['/1k', '/100k']) await (await fetch(s.url + p)).arrayBuffer();
  }
  console.log(
    `node ${process.version}, wrk -t1 -c50 -d${duration}s on core 1, servers on core 0, ${rounds} rounds (medians)`,
  );
  const results = new Map<string, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const size of ['/1k', '/100k'])
      for (const s of servers) {
        const rps = wrk(s.url + size);
        const k = `${s.name} ${size}`;
        results.set(k, [...(results.get(k) ?? []), rps]);
        console.log(`  round ${r + 1} ${k.padEnd(14)} ${rps.toFixed(0)} req/s`);
      }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  console.log(`\nmedian req/s   ${servers.map((s) => s.name.padStart(9)).join('')}`);
  for (const size of ['/1k', '/100k']) {
    const row = servers.map((s) => median(results.get(`${s.name} ${size}`) ?? []));
    console.log(
      `${size === '/1k' ? '1 KB hit  ' : '100 KB hit'}     ${row.map((x) => x.toFixed(0).padStart(9)).join('')}`,
    );
  }
  console.log('\nratios (edge / peer)');
  for (const size of ['/1k', '/100k']) {
    const e = median(results.get(`edge ${size}`) ?? []);
    const parts = servers
      .filter((s) => s.name !== 'edge')
      .map((s) => `${s.name} ${(e / (median(results.get(`${s.name} ${size}`) ?? []) || 1)).toFixed(2)}x`);
    console.log(`  ${size.padEnd(6)} ${parts.join('   ')}`);
  }
}

function cleanup(): void {
  for (const c of children) {
    try {
      c.kill('SIGTERM');
    } catch {}
  }
  const pid = join(dir, 'nginx', 'nginx.pid');
  if (existsSync(pid)) {
    try {
      execFileSync('nginx', ['-c', join(dir, 'nginx', 'nginx.conf'), '-s', 'quit'], { stdio: 'ignore' });
    } catch {}
  }
}

try {
  await main();
} finally {
  cleanup();
  await sleep(500);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
