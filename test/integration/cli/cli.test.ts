import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { freePort, testTopologyYaml } from '../../support/net.ts';

const BIN = join(process.cwd(), 'bin', 'multizone.js');
const dir = mkdtempSync(join(tmpdir(), 'mz-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('cli: validate prints OK for the default topology', () => {
  const r = run(['validate']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^OK .*4 zones, core sh-a/m);
});

test('cli: validate lists every problem with file:line:col and exits 78', () => {
  const f = join(dir, 'broken.yaml');
  writeFileSync(
    f,
    testTopologyYaml()
      .replace('region: north', 'region: nroth')
      .replace('backups: [sh-a, sh-b, gz-a]', 'backups: [bj-a, sh-b]'),
  );
  const r = run(['validate', f]);
  assert.equal(r.code, 78);
  const lines = r.err.split('\n').filter((l) => l.startsWith(f));
  assert.equal(lines.length, 2, r.err);
  assert.match(
    lines.join('\n'),
    /:\d+:\d+ {2}zones\.bj-a\.region: unknown region "nroth" \(valid: east, north, south\)/,
  );
  assert.match(lines.join('\n'), /:\d+:\d+ {2}zones\.bj-a\.backups\.0: zone "bj-a" cannot back itself up/);
});

test('cli: validate on a missing file and on broken YAML exits 78 with the reason', () => {
  const missing = run(['validate', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 78);
  assert.match(missing.err, /cannot read config/);
  const f = join(dir, 'syntax.yaml');
  writeFileSync(f, 'zones:\n  a: [1, 2\n');
  const r = run(['validate', f]);
  assert.equal(r.code, 78);
  assert.match(r.err, /syntax\.yaml:\d+:\d+ .*YAML syntax/);
});

test('cli: geo prints the location and the steering answer per service', () => {
  const r = run(['geo', '223.5.5.5']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /province CN-ZJ/);
  assert.match(r.out, /isp aliyun/);
  assert.match(r.out, /api\.shop\.test\s+east/);
  // the database's range and the answers' ECS scope are told apart, never both called "ECS scope"
  assert.match(r.out, /range \/\d+ \(where this location holds\)/);
  assert.equal(r.out.match(/ECS scope/g)?.length, 1, r.out);
  const us = run(['geo', '8.8.8.8', '--json']);
  const j = JSON.parse(us.out);
  assert.equal(j.location.country, 'US');
  // the country code came from DB-IP, so the source says so (the README credits DB-IP for it)
  assert.match(j.location.source, /mmdb/);
  assert.match(run(['geo', '8.8.8.8']).out, /DB-IP Lite/);
  assert.equal(j.answers[0].rule, 'default');
  const v6 = run(['geo', '240e:47d:c20:1627::1']);
  assert.equal(v6.code, 0, v6.err);
  assert.match(v6.out, /province CN-GD/);
});

test('cli: geo with an invalid IP is a clear error, not a stack trace', () => {
  const r = run(['geo', '1.2.3.999']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /not an IP address: "1\.2\.3\.999"/);
  assert.match(r.err, /ERR_GEO_BAD_IP/);
  assert.doesNotMatch(r.err, /at .*\.ts:\d+/);
});

test('cli: unknown command and bad flags exit 64 with help', () => {
  assert.equal(run(['frobnicate']).code, 64);
  assert.equal(run(['up', '--bogus']).code, 64);
});

test('cli: --help after a command prints the help and exits 0', () => {
  const r = run(['up', '--help']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /multizone up \[--config FILE\]/);
});

test('cli: up --json starts every zone, serves the control API, and stops on SIGTERM', async () => {
  const f = join(dir, 'up.yaml');
  writeFileSync(f, testTopologyYaml());
  const child = spawn(process.execPath, [BIN, 'up', '--config', f, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const line: string = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${stderr}`)));
  });
  const info = JSON.parse(line) as {
    control: string;
    endpoints: { zone: string | null; role: string; port: number }[];
  };
  const apps = info.endpoints.filter((e) => e.role === 'app');
  assert.deepEqual(apps.map((a) => a.zone).sort(), ['bj-a', 'gz-a', 'sh-a', 'sh-b']);
  const eps = (await (await request(`${info.control}/api/endpoints`)).body.json()) as { endpoints: unknown[] };
  assert.equal(eps.endpoints.length, info.endpoints.length);
  const steer = (await (await request(`${info.control}/api/steer?service=api.shop.test&ip=1.2.4.8`)).body.json()) as {
    endpoints: { zone: string }[];
    rule: string;
  };
  assert.equal(steer.rule, 'north');
  assert.equal(steer.endpoints[0]!.zone, 'bj-a');
  const bad = await request(`${info.control}/api/steer?service=api.shop.test`);
  assert.equal(bad.statusCode, 400);
  assert.equal(((await bad.body.json()) as { error: string }).error, 'ERR_CONTROL_BAD_REQUEST');
  const metrics = await (await request(`${info.control}/metrics`)).body.text();
  assert.match(metrics, /mz_process_/);
  const app = apps.find((a) => a.zone === 'gz-a')!;
  const echo = (await (await request(`http://127.0.0.1:${app.port}/hello`)).body.json()) as { zone: string };
  assert.equal(echo.zone, 'gz-a');
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.equal(code, 0, stderr);
});

test('cli: up reports a taken port clearly and exits non-zero', async () => {
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const f = join(dir, 'taken.yaml');
  writeFileSync(f, testTopologyYaml().replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${port}`));
  const r = run(['up', '--config', f]);
  blocker.close();
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  assert.match(r.err, /ERR_CORE_LISTEN/);
});

// a server the topology names that nobody answers: the setting, its file:line, the cause, the code, exit 1
const unreachable: {
  what: string;
  extra: (port: number) => string;
  args?: string[];
  says: (port: number) => string;
  code: string;
}[] = [
  {
    what: 'a PostgreSQL store',
    extra: (p) => `store:\n  adapter: postgres\n  postgres:\n    url: postgres://postgres@127.0.0.1:${p}/test\n`,
    says: (p) =>
      `store.postgres.url: store of sh-a: PostgreSQL cannot be reached (connect ECONNREFUSED 127.0.0.1:${p})`,
    code: 'ERR_STORE_UNAVAILABLE',
  },
  {
    what: 'a NATS log',
    extra: (p) => `replication:\n  log: jetstream\n  nats:\n    url: 127.0.0.1:${p}\n`,
    says: (p) => `replication.nats.url: cannot reach NATS at 127.0.0.1:${p} (CONNECTION_REFUSED)`,
    code: 'ERR_REPL_LOG_UNAVAILABLE',
  },
  {
    what: 'a Redis session store (--app accounts)',
    extra: (p) => `session:\n  adapter: redis\n  redis:\n    url: redis://127.0.0.1:${p}\n`,
    args: ['--app', 'accounts'],
    says: (p) => `session.redis.url: cannot reach Redis at redis://127.0.0.1:${p}: connect ECONNREFUSED 127.0.0.1:${p}`,
    code: 'ERR_SESSION_UNAVAILABLE',
  },
];
for (const u of unreachable)
  test(`cli: up with ${u.what} nobody answers names the setting, its line and the cause, and exits 1`, async () => {
    const port = await freePort();
    const f = join(dir, `down-${u.code}.yaml`);
    const yaml = testTopologyYaml({ extra: u.extra(port) });
    writeFileSync(f, yaml);
    const line = yaml.split('\n').findIndex((l) => l.includes(`127.0.0.1:${port}`)) + 1;
    const r = run(['up', '--config', f, '--control-port', '0', ...(u.args ?? [])]);
    assert.equal(r.code, 1, r.err);
    assert.ok(r.err.includes(`${f}:${line}: ${u.says(port)}`), r.err);
    assert.ok(r.err.includes(`(${u.code})`), r.err);
  });
