/**
 * `multizone zone ZONE`: one zone's process from a shared topology, as a real deployment runs
 * it. The control API on the zone's `listen.control`, only that zone's listeners, `{zone}` in the
 * URL settings naming it, and a clear exit 78 when a URL several zones of a process share names
 * a zone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { request } from 'undici';
import { BIN, type CliEndpoint, startCli as start, stopCli as stop } from '../../support/cli.ts';
import { freePort, testTopologyYaml } from '../../support/net.ts';
import { pgUrl, reachable, redisUrl } from '../store/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-zone-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// a process running some zones signs with the cluster's shared secret (trust.secretFile)
const SECRET = join(dir, 'cluster-secret');
writeFileSync(SECRET, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
const withSecret = (yaml: string) => `${yaml.endsWith('\n') ? yaml : `${yaml}\n`}trust:\n  secretFile: ${SECRET}\n`;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('cli: zone sh-b runs only sh-b, serves the control API on its listen.control, and stops on SIGTERM', async () => {
  const f = join(dir, 'zones.yaml');
  // every zone listens on its own loopback address (port 0), control included
  writeFileSync(f, withSecret(testTopologyYaml({ roles: ['app', 'router', 'control'], loopbackPerZone: true })));
  let code: number | string | null = null;
  const { child, info, stderr } = await start(['zone', 'sh-b', '--config', f, '--json']);
  try {
    const control = info.endpoints.find((e) => e.role === 'control')!;
    assert.equal(control.host, '127.0.2.1', 'the control API listens on zones.sh-b.listen.control');
    assert.notEqual(control.port, 0);
    assert.equal(info.control, `http://127.0.2.1:${control.port}`);
    const eps = (await (await request(`${info.control}/api/endpoints`)).body.json()) as {
      endpoints: (CliEndpoint & { process: string; zones?: string[] })[];
    };
    assert.deepEqual(
      eps.endpoints.filter((e) => e.role !== 'control').map((e) => `${e.zone} ${e.role} ${e.host}`),
      ['sh-b app 127.0.2.1', 'sh-b router 127.0.2.1'],
    );
    // the listeners the process printed, each tagged with the process; its control entry with its zones
    assert.deepEqual(
      eps.endpoints.map(({ process: _, zones: __, ...e }) => e),
      info.endpoints,
    );
    assert.equal(new Set(eps.endpoints.map((e) => e.process)).size, 1);
    assert.match(eps.endpoints[0]!.process, /^sh-b_[0-9a-z]+$/);
    assert.deepEqual(eps.endpoints.find((e) => e.role === 'control')!.zones, ['sh-b']);
    const app = eps.endpoints.find((e) => e.role === 'app')!;
    const echo = (await (await request(`http://${app.host}:${app.port}/hello`)).body.json()) as { zone: string };
    assert.equal(echo.zone, 'sh-b');
  } finally {
    code = await stop(child);
  }
  assert.equal(code, 0, stderr());
});

test('cli: up --zones sh-b --control-port 0 puts the control API where the option says, not on the zone', async () => {
  const f = join(dir, 'override.yaml');
  writeFileSync(f, withSecret(testTopologyYaml({ roles: ['app', 'control'], loopbackPerZone: true })));
  let code: number | string | null = null;
  const { child, info, stderr } = await start([
    'up',
    '--zones',
    'sh-b',
    '--control-port',
    '0',
    '--config',
    f,
    '--json',
  ]);
  try {
    assert.match(info.control, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(
      [...new Set(info.endpoints.map((e) => e.zone))].sort(),
      [null, 'sh-b'].sort() as (string | null)[],
    );
  } finally {
    code = await stop(child);
  }
  assert.equal(code, 0, stderr());
});

test('cli: zone ZONE with {zone} in the PostgreSQL and Redis URLs connects as that zone', async (t) => {
  const pgUp = await reachable('postgres');
  const redisUp = await reachable('redis');
  if (!pgUp || !redisUp) return t.skip('PostgreSQL or Redis is not reachable');
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const prefix = `mzzone${process.pid}_`;
  const base = pgUrl();
  const url = `${base}${base.includes('?') ? '&' : '?'}application_name=mz-{zone}-${tag}`;
  const f = join(dir, 'pg.yaml');
  writeFileSync(
    f,
    withSecret(
      testTopologyYaml({
        roles: ['app', 'control'],
        loopbackPerZone: true,
        extra: `store:
  adapter: postgres
  postgres:
    url: ${JSON.stringify(url)}
    schemaPrefix: ${prefix}
    poolSize: 2
session:
  adapter: redis
  redis:
    url: ${JSON.stringify(`${redisUrl()}/0?connectionName=mz-{zone_}-${tag}`)}
    prefix: 'mz:zone-test:${tag}:'
`,
      }),
    ),
  );
  const db = new pg.Client({ connectionString: base });
  await db.connect();
  const redis = new Redis(redisUrl(), { lazyConnect: true });
  await redis.connect();
  try {
    let code: number | string | null = null;
    const { child, stderr } = await start(['zone', 'sh-b', '--config', f, '--app', 'accounts', '--json']);
    try {
      const names = await db.query<{ application_name: string }>(
        'SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE $1',
        [`mz-%-${tag}`],
      );
      assert.deepEqual(
        names.rows.map((r) => r.application_name),
        [`mz-sh-b-${tag}`],
      );
      const schemas = await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [
        `${prefix}%`,
      ]);
      assert.deepEqual(
        schemas.rows.map((r) => r.nspname),
        [`${prefix}sh_b`],
      );
      const clients = String(await redis.client('LIST'));
      assert.ok(clients.includes(` name=mz-sh_b-${tag} `), clients);
    } finally {
      code = await stop(child);
    }
    assert.equal(code, 0, stderr());
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${prefix}sh_b CASCADE`);
    await db.end();
    redis.disconnect();
  }
});

// a URL opened once per process that names a zone, with two zones in the process
const shared = [
  {
    path: 'replication.nats.url',
    extra: 'replication:\n  log: jetstream\n  nats:\n    url: nats://127.0.0.1:4222?{zone}\n',
    what: 'the replication log',
  },
  {
    path: 'failover.kv.url',
    extra: 'failover:\n  kv:\n    type: nats\n    url: nats://nats-{zone_}:4222\n',
    what: 'the control Kv',
  },
];
for (const s of shared)
  test(`cli: up --zones sh-a,sh-b with {zone} in ${s.path} exits 78 naming the setting's line`, () => {
    const f = join(dir, `shared-${s.path}.yaml`);
    const yaml = withSecret(testTopologyYaml({ extra: s.extra }));
    writeFileSync(f, yaml);
    const line = yaml.split('\n').findIndex((l) => l.includes('{zone')) + 1;
    const r = run(['up', '--zones', 'sh-a,sh-b', '--config', f, '--control-port', '0']);
    assert.equal(r.code, 78, r.err);
    assert.match(r.err, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+ {2}${s.path}: `));
    // the zones the process runs are named (every zone, until the data and shardmap stages pass
    // the local zones to openLog/openControlKv: then exactly "(sh-a, sh-b)")
    assert.match(r.err, new RegExp(`${s.what} is shared by all zones of a process \\(sh-a, sh-b\\)`));
    assert.ok(r.err.includes('(ERR_CONFIG_INVALID)'), r.err);
  });

test('cli: zone needs exactly one known zone', () => {
  assert.equal(run(['zone']).code, 64);
  assert.equal(run(['zone', 'sh-a,sh-b']).code, 64);
  assert.equal(run(['zone', 'sh-a', 'sh-b']).code, 64);
  const unknown = run(['zone', 'xx-a']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown zone "xx-a"/);
  assert.match(unknown.err, /ERR_TOPOLOGY_UNKNOWN_ZONE/);
  assert.match(run(['help']).out, /multizone zone ZONE \[--config FILE\]/);
});

test('cli: zone sh-b starts sh-b’s app itself (app.command), routes to it, and stops it on SIGTERM; no other zone’s app', async () => {
  const ports = { 'sh-a': await freePort(), 'sh-b': await freePort() };
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { createServer } from 'node:http';
createServer((req, res) => res.end(JSON.stringify({ zone: process.env.ZONE, path: req.url, keyFile: process.env.KEY_FILE })))
  .listen(Number(process.env.PORT), process.env.HOST);`,
  );
  const app = (z: 'sh-a' | 'sh-b', ip: string) =>
    `    app: { name: tiny, upstream: "http://${ip}:${ports[z]}", keyFile: "${join(dir, 'keys', '{zone}.key')}", command: ["{node}", app.mjs], env: { PORT: "{port}", HOST: "{host}", ZONE: "{zone}", KEY_FILE: "{keyFile}" } }`;
  let yaml = testTopologyYaml({ roles: ['router', 'control'], loopbackPerZone: true });
  yaml = yaml.replace('      control: 127.0.1.1:0', `      control: 127.0.1.1:0\n${app('sh-a', '127.0.1.1')}`);
  yaml = yaml.replace('      control: 127.0.2.1:0', `      control: 127.0.2.1:0\n${app('sh-b', '127.0.2.1')}`);
  const f = join(dir, 'with-app.yaml');
  writeFileSync(f, withSecret(yaml));
  const { child, info, stderr } = await start(['zone', 'sh-b', '--config', f, '--json']);
  let code: number | string | null = null;
  try {
    const router = info.endpoints.find((e) => e.role === 'router')!;
    const r = await request(`http://${router.host}:${router.port}/hello`);
    const body = (await r.body.json()) as { zone: string; path: string; keyFile: string };
    assert.equal(r.statusCode, 200, stderr());
    assert.deepEqual(body, { zone: 'sh-b', path: '/hello', keyFile: join(dir, 'keys', 'sh-b.key') });
    assert.match(readFileSync(body.keyFile, 'utf8'), /^[0-9a-f]{64}\n$/, 'the app key is made when missing');
    assert.equal(statSync(body.keyFile).mode & 0o777, 0o600);
    // sh-a's app is sh-a's process's to start
    await assert.rejects(request(`http://127.0.1.1:${ports['sh-a']}/healthz`), /ECONNREFUSED/);
  } finally {
    code = await stop(child);
  }
  assert.equal(code, 0, stderr());
  await assert.rejects(request(`http://127.0.2.1:${ports['sh-b']}/healthz`), /ECONNREFUSED/, 'stopped with its zone');
});
