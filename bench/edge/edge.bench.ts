/**
 * Edge cache hits: our edge (lean hit path on, and `edge-node` with it off: node:http only)
 * against Apache Traffic Server, nginx (proxy_cache) and Varnish, plus a bare node:http server
 * serving the same bytes from memory. Each server runs pinned to core 0, wrk to core 1
 * (`taskset -c 1 wrk -t1 -c50 -d10s`), servers alternate within each round, and the per-round
 * figures, the medians and the ratios are printed — req/s, and req per CPU-second of the
 * server's processes (less distorted when other work shares the machine) — with the share of
 * the edge's hits its lean path served. Peers use their own configs under a temp dir (ATS its
 * own runroot via TS_RUNROOT, one ET_NET thread, logging off), bind 127.0.0.1 on ports above
 * 10000, and are stopped at the end.
 *
 *   npm run bench -- edge [--duration 10] [--rounds 3] [--only edge,ats,nginx] [--cores 0]
 *   npm run bench -- edge --only edge,edge-w2,nginx --cores 0,1   (edge.workers: 2 against 1)
 *   npm run bench -- edge --instructions   (instructions per hit under callgrind: bare, edge, edge-node)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { treeCpuSeconds } from '../support/cpu.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    instructions: { type: 'boolean', default: false },
    /** Cores the servers run on (taskset list); wrk stays on core 1. */
    cores: { type: 'string', default: '0' },
  },
});
const duration = Number(values.duration);
/** How many cores the servers get: nginx's workers and ATS's ET_NET threads follow it. */
const serverCores = values.cores.split(',').length;
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'mz-edge-bench-'));
const base = 20000 + (process.pid % 5000) * 2;
const PORTS = {
  origin: base + 1,
  bare: base + 2,
  edge: base + 3,
  nginx: base + 4,
  varnish: base + 5,
  ats: base + 6,
  'edge-node': base + 7,
  'edge-w2': base + 8,
};
/** Admin token of the bench's edges (for /.mz/stats: the lean path's share of hits). */
const TOKEN = 'bench';
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
  const c = spawn('taskset', ['-c', values.cores, ...cmd], {
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

/** One wrk run: req/s, and req per CPU-second of the server's processes. */
function wrk(url: string, pid: number): { rps: number; perCpu: number } {
  const c0 = treeCpuSeconds(pid);
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', '-c50', `-d${duration}s`, url], { encoding: 'utf8' });
  const cpu = treeCpuSeconds(pid) - c0;
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) console.error(`  (wrk ${url}: ${errors[0]})`);
  return { rps: m ? Number(m[1]) : 0, perCpu: total && cpu > 0 ? Number(total[1]) / cpu : 0 };
}

const runTs = [process.execPath, '--import', './bin/ts.mjs', 'bench/edge/servers.ts'];

function nginxConf(): string {
  const p = join(dir, 'nginx');
  execFileSync('mkdir', ['-p', join(p, 'cache'), join(p, 'tmp')]);
  const conf = `worker_processes ${serverCores};
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

/** Apache Traffic Server in its own runroot: one ET_NET thread, reverse proxy to the origin, logging off. */
function atsRunroot(): string {
  const r = join(dir, 'ats');
  for (const d of ['etc', 'var', 'run', 'log', 'cache']) mkdirSync(join(r, d), { recursive: true });
  writeFileSync(
    join(r, 'runroot.yaml'),
    [
      `prefix: ${r}`,
      'exec_prefix: /usr',
      'bindir: /usr/bin',
      'sbindir: /usr/sbin',
      `sysconfdir: ${r}/etc`,
      `datadir: ${r}/cache`,
      'includedir: /usr/include',
      'libdir: /usr/lib/trafficserver',
      'libexecdir: /usr/lib/trafficserver/modules',
      `localstatedir: ${r}/var`,
      `runtimedir: ${r}/run`,
      `logdir: ${r}/log`,
      `cachedir: ${r}/cache`,
      '',
    ].join('\n'),
  );
  // the stock files it expects (ip_allow, body_factory, …), then ours over them
  execFileSync('cp', ['-r', '/etc/trafficserver/.', join(r, 'etc')]);
  const records = [
    `proxy.config.http.server_ports STRING ${PORTS.ats}:ip-in=127.0.0.1`,
    'proxy.config.exec_thread.autoconfig INT 0',
    `proxy.config.exec_thread.limit INT ${serverCores}`,
    'proxy.config.accept_threads INT 0',
    'proxy.config.task_threads INT 1',
    'proxy.config.cache.threads_per_disk INT 1',
    'proxy.config.log.logging_enabled INT 0',
    'proxy.config.diags.debug.enabled INT 0',
    'proxy.config.admin.user_id STRING #-1',
    'proxy.config.crash_log_helper STRING /bin/true',
    'proxy.config.reverse_proxy.enabled INT 1',
    'proxy.config.url_remap.remap_required INT 1',
    'proxy.config.http.cache.http INT 1',
    'proxy.config.http.insert_age_in_response INT 1',
    'proxy.config.http.keep_alive_no_activity_timeout_in INT 120',
    'proxy.config.cache.ram_cache.size INT 67108864',
    'proxy.config.net.connections_throttle INT 10000',
  ];
  writeFileSync(join(r, 'etc', 'records.config'), records.map((l) => `CONFIG ${l}\n`).join(''));
  writeFileSync(join(r, 'etc', 'remap.config'), `map / http://127.0.0.1:${PORTS.origin}/\n`);
  writeFileSync(join(r, 'etc', 'storage.config'), `${r}/cache 256M\n`);
  writeFileSync(join(r, 'etc', 'plugin.config'), '');
  return r;
}

type Name = 'bare' | 'edge' | 'edge-node' | 'edge-w2' | 'ats' | 'nginx' | 'varnish';

async function main(): Promise<void> {
  const want = new Set((values.only ?? 'bare,edge,edge-node,ats,nginx,varnish').split(','));
  const servers: { name: Name; url: string; pid: number }[] = [];
  const add = (name: Name, c: ChildProcess) =>
    servers.push({ name, url: `http://127.0.0.1:${PORTS[name]}`, pid: c.pid ?? 0 });
  start('origin', [...runTs, 'origin', String(PORTS.origin)]);
  await waitHttp(`http://127.0.0.1:${PORTS.origin}/1k`);
  if (want.has('bare')) add('bare', start('bare', [...runTs, 'bare', String(PORTS.bare)]));
  const origin = `http://127.0.0.1:${PORTS.origin}`;
  if (want.has('edge')) add('edge', start('edge', [...runTs, 'edge', String(PORTS.edge), origin, TOKEN]));
  if (want.has('edge-node'))
    add('edge-node', start('edge-node', [...runTs, 'edge', String(PORTS['edge-node']), origin, TOKEN, 'node']));
  // edge.workers: 2 (its worker inherits the taskset of the zone's process)
  if (want.has('edge-w2'))
    add('edge-w2', start('edge-w2', [...runTs, 'edge', String(PORTS['edge-w2']), origin, TOKEN, 'w2']));
  if (want.has('ats') && has('traffic_server'))
    add('ats', start('ats', ['traffic_server'], { TS_RUNROOT: atsRunroot() }));
  else if (want.has('ats')) console.log('(traffic_server not installed: skipped)');
  if (want.has('nginx') && has('nginx')) add('nginx', start('nginx', ['nginx', '-c', nginxConf()]));
  else if (want.has('nginx')) console.log('(nginx not installed: skipped)');
  if (want.has('varnish') && has('varnishd')) {
    const v = start('varnish', [
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
    add('varnish', v);
  } else if (want.has('varnish')) console.log('(varnishd not installed: skipped)');

  for (const s of servers) {
    await waitHttp(`${s.url}/1k`);
    // warm: the first request is the miss that fills each cache
    for (const p of ['/1k', '/100k']) await (await fetch(s.url + p)).arrayBuffer();
  }
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  console.log(
    `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}; wrk -t1 -c50 -d${duration}s on core 1, servers on core(s) ${values.cores}, ${rounds} rounds (medians); load average ${load()}`,
  );
  // a connection of its own each time: a kept-alive one may have timed out during the rounds
  const edgeHits = (s: { name: Name; url: string }) =>
    new Promise<{ all: number; lean: number }>((resolve, reject) => {
      const req = httpGet(
        `${s.url}/.mz/stats`,
        { agent: false, headers: { authorization: `Bearer ${TOKEN}` } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve((JSON.parse(text) as { hits: { all: number; lean: number } }).hits));
        },
      );
      req.on('error', reject);
    });
  const hitsBefore = new Map<string, { all: number; lean: number }>();
  for (const s of servers) if (s.name.startsWith('edge')) hitsBefore.set(s.name, await edgeHits(s));
  const results = new Map<string, { rps: number; perCpu: number }[]>();
  for (let r = 0; r < rounds; r++) {
    for (const size of ['/1k', '/100k'])
      for (const s of servers) {
        const got = wrk(s.url + size, s.pid);
        const k = `${s.name} ${size}`;
        results.set(k, [...(results.get(k) ?? []), got]);
        console.log(
          `  round ${r + 1} ${k.padEnd(16)} ${got.rps.toFixed(0).padStart(7)} req/s ${got.perCpu.toFixed(0).padStart(7)} req/CPU-s`,
        );
      }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const med = (name: string, size: string, f: 'rps' | 'perCpu') =>
    median((results.get(`${name} ${size}`) ?? []).map((x) => x[f]));
  for (const [f, title] of [
    ['rps', 'req/s'],
    ['perCpu', 'req per server CPU-second'],
  ] as const) {
    console.log(`\nmedian ${title}`);
    console.log(`              ${servers.map((s) => s.name.padStart(10)).join('')}`);
    for (const size of ['/1k', '/100k'])
      console.log(
        `${size === '/1k' ? '1 KB hit  ' : '100 KB hit'}    ${servers.map((s) => med(s.name, size, f).toFixed(0).padStart(10)).join('')}`,
      );
    console.log(`ratios, multizone (lean hit path) / peer, ${title}`);
    for (const size of ['/1k', '/100k']) {
      const e = med('edge', size, f);
      const parts = servers
        .filter((s) => s.name !== 'edge')
        .map((s) => `${s.name} ${(e / (med(s.name, size, f) || 1)).toFixed(2)}x`);
      console.log(`  ${size.padEnd(6)} ${parts.join('   ')}`);
    }
  }
  for (const s of servers) {
    if (!s.name.startsWith('edge')) continue;
    const a = await edgeHits(s);
    const b = hitsBefore.get(s.name) ?? { all: 0, lean: 0 };
    const all = a.all - b.all;
    const lean = a.lean - b.lean;
    console.log(
      `\n${s.name}: ${lean} of ${all} hits served on the lean path (${all ? ((100 * lean) / all).toFixed(2) : '0'} %)`,
    );
  }
  console.log(`load average at the end ${load()}`);
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
  if (values.instructions) {
    // the origin runs natively; each edge and the bare server run under callgrind in turn
    const { measureInstructions } = await import('./instructions.ts');
    start('origin', [...runTs, 'origin', String(PORTS.origin)]);
    await waitHttp(`http://127.0.0.1:${PORTS.origin}/1k`);
    const origin = `http://127.0.0.1:${PORTS.origin}`;
    const wantI = new Set((values.only ?? 'bare,edge,edge-node').split(','));
    await measureInstructions(
      [
        { name: 'bare', args: ['bare', String(PORTS.bare)], port: PORTS.bare },
        { name: 'edge', args: ['edge', String(PORTS.edge), origin, TOKEN], port: PORTS.edge },
        {
          name: 'edge-node',
          args: ['edge', String(PORTS['edge-node']), origin, TOKEN, 'node'],
          port: PORTS['edge-node'],
        },
      ].filter((t) => wantI.has(t.name)),
      dir,
    );
  } else await main();
} finally {
  cleanup();
  await sleep(500);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
