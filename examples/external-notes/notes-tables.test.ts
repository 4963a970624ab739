/**
 * The notes example on table replication: each zone's app (Node, then Python) keeps its notes
 * in its own PostgreSQL database (one per zone on the machine's server), `replication.tables`
 * names the `notes` table, and a kill drill — the app of one zone SIGKILLed during the
 * traffic, started again after — reads every user's last acknowledged write back through the
 * routers: none lost, those the killed zone acknowledged included.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { request } from 'undici';
import { systemClock } from '../../src/core/clock.ts';
import { seededRandom } from '../../src/core/random.ts';
import { runDrill } from '../../src/drill/index.ts';
import { dropZoneDatabase, PG_ADMIN, pgAvailable } from '../../test/integration/replication/tables-support.ts';
import { startCli, stopCli } from '../../test/support/cli.ts';
import { freePort } from '../../test/support/net.ts';
import { notesTopologyYaml, startNotesApp, waitFor } from './notes-support.ts';

const HERE = new URL('.', import.meta.url).pathname;
const ZONES = ['sh-a', 'sh-b', 'bj-a'] as const;
const KILLED = 'sh-b';
/** Debian's python3 carries python3-psycopg2; another python3 first on the PATH may not. */
const PYTHON = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import psycopg2'], { stdio: 'ignore' }).status === 0,
);
const VARIANTS = {
  node: (env: NodeJS.ProcessEnv) => spawn(process.execPath, [join(HERE, 'node', 'notes.mjs')], { env, stdio: 'pipe' }),
  python: (env: NodeJS.ProcessEnv) =>
    spawn(PYTHON ?? 'python3', [join(HERE, 'python', 'notes.py')], { env, stdio: 'pipe' }),
} as const;

const up = await pgAvailable();
// the non-Node service is half of what this test shows: in CI it must run, not skip
if (process.env.CI === 'true' && !PYTHON)
  throw new Error('CI=true: python3 with psycopg2 (python3-psycopg2) is needed');

for (const variant of Object.keys(VARIANTS) as (keyof typeof VARIANTS)[]) {
  const skip = !up
    ? 'PostgreSQL not reachable at 127.0.0.1:5432'
    : variant === 'python' && !PYTHON && 'no python3 with psycopg2';
  describe(`external app (${variant}) on table replication`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), `mz-notes-pg-${variant}-`));
    const keyFile = join(dir, 'app-key');
    const tag = `mz_t17c_${randomBytes(3).toString('hex')}`;
    const dbName = (z: string) => `${tag}_${z.replace(/-/g, '_')}`;
    const dbUrl = (z: string) => `${PG_ADMIN.replace(/\/[^/]*$/, '')}/${dbName(z)}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    const apps = new Map<string, ChildProcess>();
    const ports: Record<string, number> = {};
    let cli: Awaited<ReturnType<typeof startCli>> | undefined;
    const startApp = async (z: string) => {
      const env = { NOTES_ZONE: z, NOTES_KEY_FILE: keyFile, NOTES_PG: dbUrl(z) };
      apps.set(z, await startNotesApp(VARIANTS[variant], env, ports[z]!));
    };
    const killApp = async (z: string) => {
      const a = apps.get(z);
      if (!a || a.exitCode !== null || a.signalCode !== null) return;
      const gone = new Promise((r) => a.once('exit', r));
      a.kill('SIGKILL');
      await gone;
    };
    before(async () => {
      writeFileSync(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'cluster-secret'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
      await admin.connect();
      for (const z of ZONES) await admin.query(`CREATE DATABASE ${dbName(z)}`);
    });
    after(async () => {
      if (cli) await stopCli(cli.child);
      for (const z of apps.keys()) await killApp(z);
      for (const z of ZONES) await dropZoneDatabase(admin, dbName(z));
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    });

    it(`notes (${variant}, PostgreSQL per zone): a write reaches every zone's database; a kill drill of ${KILLED}'s app loses no acknowledged write`, async (t) => {
      for (const z of ZONES) ports[z] = await freePort();
      // the apps create their table; table replication checks it at startup
      for (const z of ZONES) await startApp(z);
      const file = join(dir, 'topology.yaml');
      writeFileSync(
        file,
        notesTopologyYaml(
          ports,
          keyFile,
          64,
          `replication:\n  tables:\n    url: '${PG_ADMIN.replace(/\/[^/]*$/, '')}/${tag}_{zone_}'\n    tables: [{ name: notes, class: sharded, conflict: lock }]\n`,
        ),
      );
      cli = await startCli(['up', '--config', file, '--json'], { cwd: dir });
      const control = cli.info.control;
      const router = (z: string) => {
        const e = cli!.info.endpoints.find((x) => x.zone === z && x.role === 'router')!;
        return `http://${e.host}:${e.port}`;
      };

      // a note written through a router lands in its owner's database, then in every other zone's
      const w = await request(`${router('bj-a')}/notes/first`, { method: 'PUT', body: 'hello' });
      assert.equal(w.statusCode, 201, await w.body.text());
      const owner = String(w.headers['x-multizone-served-by']);
      await w.body.dump();
      for (const z of ZONES) {
        const db = new pg.Client({ connectionString: dbUrl(z) });
        await db.connect();
        try {
          await waitFor(`the note in ${z}'s database`, async () => {
            const r = await db.query('SELECT text, zone FROM notes WHERE id = $1', ['first']);
            return r.rows[0]?.text === 'hello' ? r.rows[0] : undefined;
          });
        } finally {
          await db.end();
        }
      }

      // notes sh-b acknowledges before the drill: after its app is killed they must be read from their new owner
      const bySh: string[] = [];
      for (let i = 0; bySh.length < 5 && i < 200; i++) {
        const r = await request(`${router('sh-a')}/notes/pre-${i}`, { method: 'PUT', body: `pre ${i}` });
        await r.body.dump();
        if (r.statusCode < 300 && r.headers['x-multizone-served-by'] === KILLED) bySh.push(`pre-${i}`);
      }
      assert.equal(bySh.length, 5);

      const report = await runDrill({
        control,
        zone: KILLED,
        mode: 'kill',
        consistency: 'fenced',
        path: '/notes',
        rps: 80,
        durationS: 8,
        writes: 0.5,
        users: 300,
        readBackTimeoutMs: 20_000,
        // the fault: the zone's app process is killed (SIGKILL), and started again to heal
        external: { cut: () => killApp(KILLED), heal: () => startApp(KILLED) },
        restore: true,
        failback: false,
        allowConflicts: true,
        clock: systemClock,
        random: seededRandom(17),
      });
      const rb = report.externalReadBack!;
      t.diagnostic(
        `${variant}: owner of the first note ${owner}; drill: ${report.requests.ok}/${report.requests.total} requests ok (errors ${JSON.stringify(report.errors)}), RTO ${report.rtoMs} ms, ` +
          `read back ${rb.found}/${rb.acknowledged} users' last acknowledged writes (by zone ${JSON.stringify(rb.acknowledgedBy)}) in ${rb.tookMs} ms, lost ${report.lost}`,
      );
      assert.equal(report.workload, 'external');
      assert.ok(rb.acknowledged > 0);
      // the notes the killed zone acknowledged are read back from the zones that own their shards now
      for (const id of bySh) {
        const r = await request(`${router('bj-a')}/notes/${id}`);
        const text = await r.body.text();
        assert.equal(r.statusCode, 200, text);
        assert.equal((JSON.parse(text) as { text: string }).text, `pre ${id.slice(4)}`);
        assert.notEqual(r.headers['x-multizone-served-by'], KILLED);
      }
      if (report.lost !== 0) {
        // what each zone's database holds for the first missing ones, and its open conflicts
        for (const z of ZONES) {
          const db = new pg.Client({ connectionString: dbUrl(z) });
          await db.connect();
          const keys = rb.examples.slice(0, 3).map((e) => e.key);
          const rows = await db.query('SELECT id, text, version, zone, epoch FROM notes WHERE id = ANY($1)', [keys]);
          const c = await db.query(
            'SELECT count(*)::int AS n FROM multizone.table_conflicts WHERE resolved_at IS NULL',
          );
          const v = await db.query('SELECT key, vv, row_xid::text FROM multizone.table_versions WHERE key = ANY($1)', [
            keys,
          ]);
          t.diagnostic(
            `${z}: ${JSON.stringify(rows.rows)}; versions ${JSON.stringify(v.rows)}; open conflicts ${c.rows[0].n}`,
          );
          await db.end();
        }
      }
      assert.equal(report.lost, 0, JSON.stringify(rb.examples));
      assert.equal(report.goal.misroutedWrites, 0);
    });
  });
}
