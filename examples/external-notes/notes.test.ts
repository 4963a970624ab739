/**
 * End to end: the notes example in Node and in Python, each behind a real `multizone up`
 * (spawned, real sockets), runs the same scenario — writes routed to the owner zone and
 * accepted only with the router's signature, 409 passed through, a 421 the router cannot
 * re-route, the app killed → the zone declared down → its shards moved to its backup, the app
 * back → failback.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { shardForKey } from '../../src/shardmap/index.ts';
import { startCli, stopCli } from '../../test/support/cli.ts';
import { freePort } from '../../test/support/net.ts';
import { notesTopologyYaml, startNotesApp, waitFor } from './notes-support.ts';

const HERE = new URL('.', import.meta.url).pathname;
const VARIANTS = {
  node: (env: NodeJS.ProcessEnv) => spawn(process.execPath, [join(HERE, 'node', 'notes.mjs')], { env, stdio: 'pipe' }),
  python: (env: NodeJS.ProcessEnv) => spawn('python3', [join(HERE, 'python', 'notes.py')], { env, stdio: 'pipe' }),
} as const;
const ZONES = ['sh-a', 'sh-b', 'bj-a'] as const;
const SHARDS = 64;

async function http(url: string, method = 'GET', body?: string, headers: Record<string, string> = {}) {
  const r = await request(url, { method: method as 'GET', body: body ?? null, headers });
  const text = await r.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: r.statusCode, headers: r.headers, json };
}

for (const variant of Object.keys(VARIANTS) as (keyof typeof VARIANTS)[]) {
  describe(`external app (${variant}): the notes example behind multizone up`, () => {
    const dir = mkdtempSync(join(tmpdir(), `mz-notes-${variant}-`));
    const keyFile = join(dir, 'app-key');
    writeFileSync(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
    const apps = new Map<string, ChildProcess>();
    const ports: Record<string, number> = {};
    let cli: Awaited<ReturnType<typeof startCli>> | undefined;
    const startApp = async (z: string) => {
      const env = { NOTES_ZONE: z, NOTES_KEY_FILE: keyFile, NOTES_DB: join(dir, `notes-${z}.sqlite`) };
      apps.set(z, await startNotesApp(VARIANTS[variant], env, ports[z]!));
    };
    after(async () => {
      if (cli) await stopCli(cli.child);
      for (const a of apps.values()) a.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    it(`notes (${variant}): routed, signed, 409, 421, app killed → shards moved, app back → failback`, async (t) => {
      for (const z of ZONES) ports[z] = await freePort();
      for (const z of ZONES) await startApp(z);
      const file = join(dir, 'topology.yaml');
      writeFileSync(file, notesTopologyYaml(ports, keyFile, SHARDS));
      writeFileSync(join(dir, 'cluster-secret'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
      cli = await startCli(['up', '--config', file, '--json'], { cwd: dir });
      const control = cli.info.control;
      const router = (z: string) => {
        const e = cli!.info.endpoints.find((x) => x.zone === z && x.role === 'router')!;
        return `http://${e.host}:${e.port}`;
      };
      const topo = (await http(`${control}/api/topology`)).json;
      assert.equal(topo.app, 'external');
      type Map = {
        shards: { shard: number; zone: string; epoch: number }[];
        zones: Record<string, { shards: number }>;
      };
      const shardMap = async () => (await http(`${control}/api/shardmap`)).json as unknown as Map;
      const before = await shardMap();
      // a note whose shard sh-b owns, written by a client entering at sh-a
      const id = Array.from({ length: 500 }, (_, i) => `note-${i}`).find(
        (k) => before.shards[shardForKey(k, SHARDS)]!.zone === 'sh-b',
      )!;
      const shard = shardForKey(id, SHARDS);
      const w = await http(`${router('sh-a')}/notes/${id}`, 'PUT', 'hello from sh-a');
      assert.equal(w.status, 201, JSON.stringify(w.json));
      assert.equal(w.headers['x-multizone-served-by'], 'sh-b');
      assert.equal(w.headers['x-notes-lang'], variant);
      assert.equal(w.json.zone, 'sh-b');
      assert.equal(w.json.shard, shard);
      // read from the third zone: routed to the owner
      const r = await http(`${router('bj-a')}/notes/${id}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.text, 'hello from sh-a');
      // the app refuses what its router did not sign
      const direct = await http(`http://127.0.0.1:${ports['sh-b']}/notes/${id}`, 'PUT', 'forged');
      assert.equal(direct.status, 401);
      // 409 (a write expecting another version) passes through the router
      const c = await http(`${router('sh-a')}/notes/${id}`, 'PUT', 'stale', { 'if-match': '7' });
      assert.equal(c.status, 409);
      assert.equal(c.json.error, 'conflict');
      // 421: the router looks the owner up again, still sh-b, so a typed 503
      assert.equal(
        (await http(`http://127.0.0.1:${ports['sh-b']}/internal/refuse?shard=${shard}`, 'POST')).status,
        200,
      );
      const m = await http(`${router('bj-a')}/notes/${id}`, 'PUT', 'x');
      assert.equal(m.status, 503);
      assert.equal(m.json.error, 'ERR_ROUTER_APP_MISDIRECTED');
      await http(`http://127.0.0.1:${ports['sh-b']}/internal/refuse?shard=${shard}`, 'DELETE');
      // the admin route is not reachable through the router
      const internal = await http(`${router('sh-a')}/internal/refuse?shard=1`, 'POST');
      assert.equal(internal.json.error, 'ERR_TRUST_INTERNAL_PATH');

      // kill sh-b's app: the zone answers 503 on /_mz/health, gives up its lease, its shards move
      const homes = before.zones['sh-b']!.shards;
      const killedAt = performance.now();
      apps.get('sh-b')!.kill('SIGKILL');
      await waitFor('sh-b down', async () =>
        (await http(`${router('sh-b')}/_mz/health`)).status === 503 ? true : undefined,
      );
      const after1 = await waitFor('sh-b’s shards to move', async () => {
        const m2 = await shardMap();
        return m2.zones['sh-b']!.shards === 0 ? m2 : undefined;
      });
      const movedMs = performance.now() - killedAt;
      t.diagnostic(`${variant}: app killed → ${homes} shards moved off sh-b in ${Math.round(movedMs)} ms`);
      assert.equal(after1.shards[shard]!.zone, 'sh-a'); // its first backup in the same region
      assert.ok(after1.shards[shard]!.epoch > before.shards[shard]!.epoch);
      // a client entering at sh-b is served by the new owner
      const w2 = await waitFor('a write after the move', async () => {
        const x = await http(`${router('sh-b')}/notes/${id}`, 'PUT', 'after the move');
        return x.status < 300 ? x : undefined;
      });
      assert.equal(w2.headers['x-multizone-served-by'], 'sh-a');
      // no replication of the app's own data here: the new owner starts without the note
      assert.equal(w2.json.version, 1);

      // the app is back: the zone is up again, and fails back on request
      await startApp('sh-b');
      await waitFor('sh-b up', async () =>
        (await http(`${router('sh-b')}/_mz/health`)).status === 200 ? true : undefined,
      );
      const fb0 = performance.now();
      const fb = await waitFor('failback', async () => {
        const x = await http(`${control}/api/failback`, 'POST', JSON.stringify({ zone: 'sh-b' }), {
          'content-type': 'application/json',
        });
        return x.status === 200 ? x : undefined;
      });
      t.diagnostic(
        `${variant}: failback answered in ${Math.round(performance.now() - fb0)} ms: ${JSON.stringify(fb.json)}`,
      );
      const back = await shardMap();
      assert.equal(back.zones['sh-b']!.shards, homes);
      const r2 = await http(`${router('bj-a')}/notes/${id}`);
      if (variant === 'python') {
        // SQLite kept sh-b's note through the kill
        assert.equal(r2.status, 200);
        assert.equal(r2.json.text, 'hello from sh-a');
      } else assert.equal(r2.status, 404); // held in memory: lost with the process
    });
  });
}
