/**
 * `replication.tables` wired into a running cluster (what `multizone up` starts): four zones in
 * one process, each with its own database on the machine's PostgreSQL; a row written in one
 * zone's database reaches the others', and the control API shows the table links.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { request } from 'undici';
import { main } from '../../../src/cli/main.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';
import { dropZoneDatabase, PG_ADMIN, pgAvailable, until } from './tables-support.ts';

const up = await pgAvailable();
// two of the four zones run here: each applier holds a replication origin session, and one
// server (this machine's) has max_replication_slots (10) of them for every test at once
const ZONES = ['sh-a', 'bj-a'];

test('tables: multizone up starts table replication when replication.tables is set', {
  skip: !up && 'PostgreSQL not reachable',
}, async () => {
  const tag = `mz_t17b_${randomBytes(4).toString('hex')}`;
  const db = (z: string) => `${tag}_${z.replace(/-/g, '_')}`;
  const base = PG_ADMIN.replace(/\/[^/]*$/, '');
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  const pools = new Map<string, pg.Pool>();
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  try {
    for (const z of ZONES) {
      await admin.query(`CREATE DATABASE ${db(z)}`);
      const p = new pg.Pool({ connectionString: `${base}/${db(z)}`, max: 2 });
      pools.set(z, p);
      await p.query(
        'CREATE TABLE notes (id int PRIMARY KEY, body text UNIQUE); ALTER TABLE notes REPLICA IDENTITY FULL;',
      );
    }
    const yaml = testTopologyYaml({
      roles: ['app', 'router'],
      loopbackPerZone: true,
      extra: `health: { enabled: false }\nreplication:\n  tables:\n    url: ${base}/${tag}_{zone_}\n    refusedAfterMs: 200\n    tables:\n      - { name: notes, class: global }\n`,
    });
    cluster = await startCluster({
      topology: parseTopology(yaml, 'tables-up.yaml'),
      zones: ZONES,
      secret: new Uint8Array(32).fill(7),
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
    });
    // global class: the core zone (sh-a) writes
    await pools.get('sh-a')!.query("INSERT INTO notes VALUES (1, 'hello')");
    for (const z of ZONES.slice(1))
      await until(
        async () => (await pools.get(z)!.query('SELECT 1 FROM notes WHERE id = 1')).rowCount === 1,
        20_000,
        z,
      );
    const control = `http://127.0.0.1:${cluster.control.port}`;
    const r = (await (await request(`${control}/api/replication`)).body.json()) as {
      tables?: { links: { origin: string; dest: string }[]; slots: { zone: string }[] };
    };
    assert.equal(r.tables?.links.length, 6, 'per local zone, one link from each other zone');
    assert.deepEqual(r.tables?.slots.map((s) => s.zone).sort(), [...ZONES].sort());
    const c = (await (await request(`${control}/api/conflicts`)).body.json()) as { tables?: unknown[] };
    assert.deepEqual(c.tables, []);
    // resolve --all takes table conflicts too: a table resource alone, or both kinds
    for (const body of [{ pickZone: 'bj-a', resource: 'table:notes', dryRun: true }, { pickZone: 'bj-a' }]) {
      const ra = await request(`${control}/api/conflicts/resolve-all`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(ra.statusCode, 200, JSON.stringify(body));
      assert.deepEqual(((await ra.body.json()) as { resolved: string[] }).resolved, []);
    }
    const m = await (await request(`${control}/metrics`)).body.text();
    assert.match(m, /mz_replication_table_applied_rows_total 1/);

    // a row bj-a's database refuses (its own row holds the unique body) is held as a conflict
    // after refusedAfterMs, and the link goes on; the CLI lists it with the reason
    await pools.get('bj-a')!.query("INSERT INTO notes VALUES (9, 'taken')");
    await pools.get('sh-a')!.query("INSERT INTO notes VALUES (2, 'taken')");
    await pools.get('sh-a')!.query("INSERT INTO notes VALUES (3, 'after')");
    await until(
      async () => (await pools.get('bj-a')!.query('SELECT 1 FROM notes WHERE id = 3')).rowCount === 1,
      20_000,
      'the row behind the refused one',
    );
    const out: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s) };
    assert.equal(await main(['conflicts', '--control', control], io), 0, out.join('\n'));
    assert.match(
      out.join('\n'),
      /table:bj-a:\d+: bj-a's database refused sh-a's row: .*notes_body_key.*\(body\)=\(taken\)/,
    );
    const id = /table:bj-a:\d+/.exec(out.join('\n'))![0];
    // picking sh-a's row while bj-a still holds the body: a 400 with the reason, nothing changed
    const refused = await request(`${control}/api/conflicts/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id, pick: 'sh-a' }),
    });
    assert.equal(refused.statusCode, 400);
    assert.equal(((await refused.body.json()) as { error: string }).error, 'ERR_REPL_TABLES_REFUSED');
    await pools.get('bj-a')!.query('DELETE FROM notes WHERE id = 9');
    out.length = 0;
    assert.equal(
      await main(['conflicts', 'resolve', id, '--pick', 'sh-a', '--control', control], io),
      0,
      out.join('\n'),
    );
    assert.deepEqual((await pools.get('bj-a')!.query('SELECT id, body FROM notes ORDER BY id')).rows, [
      { id: 1, body: 'hello' },
      { id: 2, body: 'taken' },
      { id: 3, body: 'after' },
    ]);
  } finally {
    await cluster?.close();
    for (const p of pools.values()) await p.end();
    for (const z of ZONES) await dropZoneDatabase(admin, db(z));
    await admin.end();
  }
});
