import pg from 'pg';
import { systemClock } from '../src/core/clock.ts';
import { seededRandom } from '../src/core/random.ts';
import { MemoryLog } from '../src/replication/index.ts';
import { TableReplication } from '../src/replication/tables/table-replication.ts';
const ADMIN = 'postgres://postgres@127.0.0.1:5432/postgres';
const tag = `mz_ex_${Math.floor(Math.random() * 1e9).toString(36)}`;
const url = (db: string) => `postgres://postgres@127.0.0.1:5432/${db}`;
const DDL = `CREATE TABLE items (id bigint PRIMARY KEY, user_id int NOT NULL, payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(), applied_at timestamptz);
ALTER TABLE items REPLICA IDENTITY FULL;`;
const admin = new pg.Client(ADMIN); await admin.connect();
for (const z of ['src', 'dst']) await admin.query(`CREATE DATABASE ${tag}_${z}`);
const src = new pg.Pool({ connectionString: url(`${tag}_src`) }); const dst = new pg.Pool({ connectionString: url(`${tag}_dst`) });
await src.query(DDL); await dst.query(DDL);
let captured: { text: string; values: unknown[] } | undefined;
const q = pg.Client.prototype.query as any;
(pg.Client.prototype as any).query = function (this: any, a: any, b: any, ...rest: any[]) {
  const text = typeof a === 'string' ? a : a?.text;
  if (typeof text === 'string' && text.trimStart().startsWith('WITH st AS')) captured = { text, values: typeof a === 'string' ? b : a.values };
  return q.call(this, a, b, ...rest);
};
const log = new MemoryLog({ clock: systemClock, random: seededRandom(1) });
const tr = new TableReplication({ config: { url: url(`${tag}_{zone}`), tables: [{ name: 'items', class: 'sharded', conflict: 'lock' }], batchMax: 1000 } as any,
  zones: ['src', 'dst'], allZones: ['src', 'dst'], log, clock: systemClock,
  ownership: (zone: string) => ({ owner: () => ({ zone, epoch: 1 }), shardCount: 1024, hash: 'fnv1a' }) } as any);
await tr.start();
const N = Number(process.env.N ?? 20000);
await src.query("INSERT INTO items (id, user_id, payload) SELECT g, g % 1000, repeat('x', 100) FROM generate_series(1, $1::bigint) g", [N]);
for (;;) { const r = await dst.query('SELECT count(*)::int n FROM items'); if (r.rows[0].n >= N) break; await new Promise((r) => setTimeout(r, 100)); }
captured = undefined;
// a small batch of 40 rows in 8 txns
for (let i = 0; i < 1; i++) await src.query("INSERT INTO items (id, user_id, payload) SELECT g, g % 1000, repeat('x', 100) FROM generate_series($1::bigint, $2::bigint) g", [N + 1, N + 40]);
for (;;) { const r = await dst.query('SELECT count(*)::int n FROM items'); if (r.rows[0].n >= N + 40) break; await new Promise((r) => setTimeout(r, 20)); }
await tr.stop();
if (!captured) { console.log('no statement captured'); process.exit(1); }
// run the last captured statement's batch again, under EXPLAIN, on rows deleted first
const vals = captured.values as any[];
const batch = JSON.parse(vals[1]);
console.log('batch rows', batch.length);
const c = new pg.Client(url(`${tag}_dst`)); await c.connect();
await c.query("SET session_replication_role = replica");
for (let k = 0; k < 3; k++) {
  await c.query('BEGIN');
  await c.query(`DELETE FROM items WHERE id = ANY($1::bigint[])`, [batch.map((b: any) => b.kr.id)]);
  await c.query(`DELETE FROM multizone.table_versions WHERE tbl = 'items' AND key = ANY($1::text[])`, [batch.map((b: any) => b.key)]);
  const t0 = performance.now();
  const r = await c.query(`EXPLAIN (ANALYZE, SUMMARY, FORMAT TEXT) ${captured.text}`, vals);
  const t1 = performance.now();
  if (k === 2) console.log(r.rows.map((x: any) => x['QUERY PLAN']).join('\n'));
  console.log(`client round trip ${(t1 - t0).toFixed(2)} ms`, r.rows.slice(-2).map((x: any) => x['QUERY PLAN']).join(' | '));
  await c.query('ROLLBACK');
}
await c.end(); await src.end(); await dst.end();
for (const z of ['src', 'dst']) { await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${tag}_${z}'`).catch(() => {}); await admin.query(`DROP DATABASE ${tag}_${z} WITH (FORCE)`); }
await admin.end();
