/**
 * `multizone publish` and `multizone purge` against a real edge (in this process, on a real
 * socket) and an edge that is not there: clear failures naming the URL and the cause or the
 * edge's reason, a manifest written only after every push succeeded, and the admin token
 * from --token, the environment or `<store.dataDir>/admin-token`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { main } from '../../../src/cli/main.ts';
import { cacheStatus, Scenario } from '../../edge/support/scripted.ts';
import { freePort, testTopologyYaml } from '../../support/net.ts';

const BIN = join(process.cwd(), 'bin', 'multizone.js');
const STACK = /^\s+at .*:\d+:\d+\)?$/m;
const dir = mkdtempSync(join(tmpdir(), 'mz-publish-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let s: Scenario | undefined;
afterEach(async () => {
  if (!s) return;
  s.origin.verify();
  await s.close();
  s = undefined;
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    text: () => [...out, ...err].join('\n'),
    io: { out: (x: string) => out.push(x), err: (x: string) => err.push(x) },
  };
}

/** A folder with two files and the manifest of an earlier publish. */
function site(name: string): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'css'), { recursive: true });
  writeFileSync(join(d, 'app.js'), 'console.log(1)');
  writeFileSync(join(d, 'css', 'site.css'), 'body{}');
  writeFileSync(join(d, 'manifest.json'), '{"earlier":"publish"}\n');
  return d;
}

/** The CLI as a process, with exactly this environment (no token leaks in from the test's own). */
function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('cli/publish: a missing DIR is one clear error, not a stack trace', async () => {
  const o = io();
  const code = await main(['publish', join(dir, 'nope'), '--edge', 'http://127.0.0.1:1', '--token', 't'], o.io);
  assert.equal(code, 1, o.text());
  assert.match(o.text(), /ERR_CLI_NOT_A_DIR/);
  assert.ok(o.text().includes(join(dir, 'nope')));
  assert.doesNotMatch(o.text(), STACK);
  const d = site('manifest-nowhere');
  const m = io();
  const to = join(dir, 'no-such-folder', 'manifest.json');
  assert.equal(await main(['publish', d, '--edge', 'http://127.0.0.1:1', '--token', 't', '--manifest', to], m.io), 1);
  assert.match(m.text(), /ERR_CLI_NOT_A_DIR/);
  assert.doesNotMatch(m.text(), STACK);
});

test('cli/publish: an unreachable edge names the URL and the cause; the manifest is left as it was', async () => {
  const d = site('unreachable');
  const edge = `http://127.0.0.1:${await freePort()}`;
  const o = io();
  assert.equal(await main(['publish', d, '--edge', edge, '--token', 't'], o.io), 1);
  assert.match(o.text(), /ERR_EDGE_PUBLISH/);
  assert.ok(o.text().includes(edge), `names ${edge}: ${o.text()}`);
  assert.match(o.text(), /ECONNREFUSED/);
  assert.doesNotMatch(o.text(), STACK);
  assert.equal(readFileSync(join(d, 'manifest.json'), 'utf8'), '{"earlier":"publish"}\n');
  assert.deepEqual(readdirSync(d).sort(), ['app.js', 'css', 'manifest.json'], 'no partial manifest left behind');
});

test('cli/publish: a refusal shows the edge’s reason; the manifest is written only after every push', async () => {
  s = new Scenario();
  await s.start({}, { token: 'right' });
  const d = site('refused');
  const o = io();
  assert.equal(await main(['publish', d, '--edge', s.url, '--token', 'wrong'], o.io), 1);
  assert.match(o.text(), /ERR_EDGE_PUBLISH/);
  assert.match(o.text(), /HTTP 401: a valid bearer token is required \(ERR_EDGE_UNAUTHORIZED\)/);
  assert.equal(readFileSync(join(d, 'manifest.json'), 'utf8'), '{"earlier":"publish"}\n');
  const ok = io();
  assert.equal(await main(['publish', d, '--edge', s.url, '--token', 'right'], ok.io), 0, ok.text());
  const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Record<string, string>;
  assert.deepEqual(Object.keys(manifest).sort(), ['app.js', 'css/site.css']);
  assert.equal(cacheStatus(await s.get(manifest['app.js']!)).hit, true);
});

test('cli/publish: the token comes from --token, MULTIZONE_ADMIN_TOKEN, MZ_EDGE_TOKEN, else <store.dataDir>/admin-token', async () => {
  s = new Scenario();
  await s.start({}, { token: 'from-file' });
  const d = site('token');
  const data = join(dir, 'token-data');
  const config = join(dir, 'token.yaml');
  writeFileSync(config, testTopologyYaml({ extra: `store:\n  dataDir: ${data}\n` }));
  const args = ['publish', d, '--edge', s.url, '--config', config];
  // nowhere: the error says where it looked
  const none = await run(args);
  assert.equal(none.code, 1, none.err);
  assert.match(none.err, /ERR_CLI_NO_TOKEN/);
  assert.ok(none.err.includes(join(data, 'admin-token')), none.err);
  assert.match(none.err, /MULTIZONE_ADMIN_TOKEN/);
  assert.doesNotMatch(none.err, STACK);
  // the file multizone up keeps it in (one line)
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'admin-token'), 'from-file\n');
  const file = await run(args);
  assert.equal(file.code, 0, file.err);
  // the environment wins over the file (here: a wrong token, refused by the edge)
  const env = await run(args, { MULTIZONE_ADMIN_TOKEN: 'from-env' });
  assert.equal(env.code, 1);
  assert.match(env.err, /ERR_EDGE_UNAUTHORIZED/);
  const old = await run(args, { MZ_EDGE_TOKEN: 'from-env' });
  assert.equal(old.code, 1);
  assert.match(old.err, /ERR_EDGE_UNAUTHORIZED/);
  // and --token wins over both
  const flag = await run([...args, '--token', 'from-file'], { MULTIZONE_ADMIN_TOKEN: 'from-env' });
  assert.equal(flag.code, 0, flag.err);
});

test('cli/purge: removes an object, or everything under a prefix, from every edge', async () => {
  s = new Scenario();
  await s.start({}, { token: 't0k' });
  const d = site('purge');
  assert.equal(await main(['publish', d, '--edge', s.url, '--token', 't0k'], io().io), 0);
  const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as Record<string, string>;
  const js = manifest['app.js']!;
  const css = manifest['css/site.css']!;
  assert.equal(cacheStatus(await s.get(js)).hit, true);
  // one URL
  const o = io();
  assert.equal(await main(['purge', js, '--edge', s.url, '--token', 't0k'], o.io), 0, o.text());
  assert.match(o.out.join('\n'), /purged 1 object/);
  s.origin.script({ status: 404, body: 'gone' });
  assert.equal((await s.get(js)).status, 404, 'after the purge the edge asks the origin');
  // a prefix
  assert.equal(cacheStatus(await s.get(css)).hit, true);
  const p = io();
  assert.equal(await main(['purge', '/css/*', '--edge', s.url, '--token', 't0k', '--json'], p.io), 0, p.text());
  assert.equal((JSON.parse(p.out[0]!) as { purged: number }).purged, 1);
  s.origin.script({ status: 404, body: 'gone' });
  assert.equal((await s.get(css)).status, 404);
});

test('cli/purge: a refusal shows the edge’s reason, an unreachable edge its URL and cause; exit 1', async () => {
  s = new Scenario();
  await s.start({}, { token: 'right' });
  const refused = io();
  assert.equal(await main(['purge', '/x', '--edge', s.url, '--token', 'wrong'], refused.io), 1);
  assert.match(refused.text(), /ERR_CLI_EDGE_REFUSED/);
  assert.match(refused.text(), /a valid bearer token is required \(ERR_EDGE_UNAUTHORIZED\)/);
  const gone = `http://127.0.0.1:${await freePort()}`;
  const down = io();
  assert.equal(await main(['purge', '/x', '--edge', gone, '--token', 'right'], down.io), 1);
  assert.match(down.text(), /ERR_CLI_EDGE_UNREACHABLE/);
  assert.ok(down.text().includes(gone));
  assert.match(down.text(), /ECONNREFUSED/);
  assert.doesNotMatch(down.text(), STACK);
});
