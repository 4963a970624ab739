// `multizone up` keeps the cluster secret and the edge admin token in store.dataDir (mode
// 0600, made once, reused); a process running only some zones refuses to start without
// trust.secretFile (exit 78, saying what to set).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { BIN, startCli, stopCli as stop } from '../../support/cli.ts';
import { testTopologyYaml } from '../../support/net.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-trust-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env };
delete env.MZ_EDGE_TOKEN;
const up = (args: string[]) => startCli(args, { env });

test('cli/trust: up makes <dataDir>/cluster-secret and admin-token (0600) once, reuses them, and the edge admin API takes the token', async () => {
  const dataDir = join(dir, 'data');
  const f = join(dir, 'up.yaml');
  writeFileSync(f, testTopologyYaml({ roles: ['app', 'router', 'edge'], extra: `store:\n  dataDir: ${dataDir}\n` }));
  const first = await up(['up', '--config', f, '--json', '--control-port', '0']);
  const secretFile = join(dataDir, 'cluster-secret');
  const tokenFile = join(dataDir, 'admin-token');
  let secret: string;
  let token: string;
  try {
    secret = readFileSync(secretFile, 'utf8');
    assert.match(secret, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    token = readFileSync(tokenFile, 'utf8');
    assert.match(token, /^[0-9a-f]{64}\n$/, 'one line');
    assert.notEqual(token, secret);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.ok(first.stderr().includes(tokenFile), `says where the token is: ${first.stderr()}`);
    // the edge admin API is on, behind that token
    const edge = first.info.endpoints.find((e) => e.role === 'edge')!;
    const stats = (auth?: string) =>
      request(`http://${edge.host}:${edge.port}/.mz/stats`, { headers: auth ? { authorization: auth } : {} });
    const ok = await stats(`Bearer ${token.trim()}`);
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    const no = await stats('Bearer nope');
    assert.equal(no.statusCode, 401);
    await no.body.dump();
  } finally {
    assert.equal(await stop(first.child), 0, first.stderr());
  }
  const second = await up(['up', '--config', f, '--json', '--control-port', '0']);
  try {
    assert.equal(readFileSync(secretFile, 'utf8'), secret, 'the secret is reused');
    assert.equal(readFileSync(tokenFile, 'utf8'), token, 'the token is reused');
    assert.ok(!second.stderr().includes(tokenFile), 'said once, when it was made');
  } finally {
    assert.equal(await stop(second.child), 0, second.stderr());
  }
});

test('cli/trust: a zone process without trust.secretFile exits 78 saying what to set', () => {
  const f = join(dir, 'zone.yaml');
  writeFileSync(f, testTopologyYaml({ roles: ['app', 'router', 'control'], loopbackPerZone: true }));
  for (const args of [
    ['zone', 'sh-b', '--config', f],
    ['up', '--zones', 'sh-a,sh-b', '--config', f, '--control-port', '0'],
  ]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env });
    assert.equal(r.status, 78, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /set trust\.secretFile in .*zone\.yaml/);
    assert.match(r.stderr, /\(ERR_TRUST_NO_SECRET\)/);
  }
  // a named file that is not there, or holds too little, is refused the same way
  const missing = join(dir, 'missing.yaml');
  writeFileSync(missing, `${readFileSync(f, 'utf8')}trust:\n  secretFile: ${join(dir, 'nope')}\n`);
  const m = spawnSync(process.execPath, [BIN, 'zone', 'sh-b', '--config', missing], { encoding: 'utf8', env });
  assert.equal(m.status, 78, m.stderr);
  assert.match(m.stderr, /\(ERR_TRUST_NO_SECRET\)/);
  const short = join(dir, 'short-secret');
  writeFileSync(short, 'abcd\n', { mode: 0o600 });
  const weak = join(dir, 'weak.yaml');
  writeFileSync(weak, `${readFileSync(f, 'utf8')}trust:\n  secretFile: ${short}\n`);
  const w = spawnSync(process.execPath, [BIN, 'zone', 'sh-b', '--config', weak], { encoding: 'utf8', env });
  assert.equal(w.status, 78, w.stderr);
  assert.match(w.stderr, /\(ERR_TRUST_BAD_SECRET\)/);
});

test('cli/trust: validate refuses an unknown key in trust:', () => {
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, `${testTopologyYaml()}trust:\n  secret: abc\n`);
  const r = spawnSync(process.execPath, [BIN, 'validate', f], { encoding: 'utf8', env });
  assert.equal(r.status, 78);
  assert.match(r.stderr, /trust/);
});
