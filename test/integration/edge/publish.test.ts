/** `multizone publish`: fingerprinted names, a manifest, immutable pushes to the edge. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import { main } from '../../../src/cli/main.ts';
import { fingerprintName, IMMUTABLE } from '../../../src/edge/index.ts';
import { cacheStatus, Scenario } from '../../edge/support/scripted.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-publish-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let s: Scenario;
afterEach(async () => {
  if (!s) return;
  s.origin.verify();
  await s.close();
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (x: string) => out.push(x), err: (x: string) => err.push(x) } };
}

test('publish: the content hash goes before the extension', () => {
  assert.equal(fingerprintName('css/site.css', 'abcdef0123456789'), '/css/site.abcdef0123.css');
  assert.equal(fingerprintName('LICENSE', 'abcdef0123456789', '/static'), '/static/LICENSE.abcdef0123');
});

test('publish: files are fingerprinted, listed in a manifest and pushed as immutable hits', async () => {
  s = new Scenario();
  await s.start({}, { token: 't0k' });
  const site = join(dir, 'site');
  mkdirSync(join(site, 'css'), { recursive: true });
  writeFileSync(join(site, 'app.js'), 'console.log(1)');
  writeFileSync(join(site, 'css', 'site.css'), 'body{}');
  const o = io();
  const code = await main(['publish', site, '--edge', s.url, '--token', 't0k'], o.io);
  assert.equal(code, 0, o.err.join('\n'));
  assert.equal(o.err.length, 2, 'one progress line per file');
  assert.match(o.err[1]!, /\[#+\] 2\/2/);
  const manifest = JSON.parse(readFileSync(join(site, 'manifest.json'), 'utf8')) as Record<string, string>;
  assert.deepEqual(Object.keys(manifest).sort(), ['app.js', 'css/site.css']);
  assert.match(manifest['css/site.css']!, /^\/css\/site\.[0-9a-f]{10}\.css$/);
  const r = await s.get(manifest['app.js']!);
  assert.equal(r.body, 'console.log(1)');
  assert.equal(r.headers['cache-control'], IMMUTABLE);
  assert.equal(r.headers['content-type'], 'application/javascript; charset=utf-8');
  assert.equal(cacheStatus(r).hit, true);
  assert.equal(s.origin.received.length, 0);
  // publishing again skips the manifest itself and gives the same names
  const again = io();
  assert.equal(await main(['publish', site, '--edge', s.url, '--token', 't0k'], again.io), 0);
  assert.deepEqual(JSON.parse(readFileSync(join(site, 'manifest.json'), 'utf8')), manifest);
});

test('publish: a wrong token fails with ERR_EDGE_PUBLISH', async () => {
  s = new Scenario();
  await s.start({}, { token: 'right' });
  const site = join(dir, 'site2');
  mkdirSync(site, { recursive: true });
  writeFileSync(join(site, 'a.txt'), 'a');
  const o = io();
  const code = await main(['publish', site, '--edge', s.url, '--token', 'wrong'], o.io);
  assert.equal(code, 1);
  assert.ok(o.err.some((l) => l.includes('ERR_EDGE_PUBLISH')));
});
