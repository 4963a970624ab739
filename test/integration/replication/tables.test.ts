/**
 * Contract tests of table replication (`replication.tables`) against the machine's real
 * PostgreSQL: one database per zone, decoded through a slot, applied in the others.
 * In CI (CI=true) a missing PostgreSQL fails these tests instead of skipping them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import {
  checkTables,
  checkWalLevel,
  compareZones,
  walLevelVerdict,
} from '../../../src/replication/tables/table-checks.ts';
import { tableStream as tableStreamOf } from '../../../src/replication/tables/table-decoder.ts';
import { LOCKED_SQLSTATE } from '../../../src/replication/tables/table-sql.ts';
import { PG_ADMIN, pgAvailable, type TablesCluster, tablesCluster, until } from './tables-support.ts';

const ORDERS = `
CREATE TABLE orders (id bigint PRIMARY KEY, user_id int NOT NULL, note text, qty int NOT NULL DEFAULT 0,
  meta jsonb, updated timestamptz NOT NULL DEFAULT now());
ALTER TABLE orders REPLICA IDENTITY FULL;
CREATE TABLE applied_count (n bigint NOT NULL);
INSERT INTO applied_count VALUES (0);
CREATE TABLE history (id bigserial PRIMARY KEY, order_id bigint, qty int);
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE applied_count SET n = n + 1; INSERT INTO history (order_id, qty) VALUES (NEW.id, NEW.qty); RETURN NEW; END $$;
CREATE TRIGGER count_apply AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION bump();
-- ALWAYS: fires for replicated rows too, so the tests can count how often a row was applied
ALTER TABLE orders ENABLE ALWAYS TRIGGER count_apply;
`;

const up = await pgAvailable();
const ZONES = ['sh-a', 'bj-a'];

async function rows(c: TablesCluster, zone: string, sql = 'SELECT id, user_id, note, qty FROM orders ORDER BY id') {
  return (await c.db(zone).query(sql)).rows;
}

async function converged(c: TablesCluster, sql?: string): Promise<boolean> {
  const [a, ...rest] = await Promise.all(c.zones.map((z) => rows(c, z, sql)));
  return rest.every((r) => JSON.stringify(r) === JSON.stringify(a));
}

/** A logger that keeps the warnings it is given (pino's JSON lines, parsed). */
function warnings(): {
  lines: { msg: string; constraint?: string; table?: string; zone?: string; conflict?: string }[];
  logger: pino.Logger;
} {
  const lines: ReturnType<typeof warnings>['lines'] = [];
  return { lines, logger: pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) };
}

/**
 * Two zones whose shards sh-a owns (epoch 1) until moveToBj(): then bj-a owns them (epoch 2),
 * sh-a having held them until that moment (a failover's notBefore).
 */
async function movingShards(): Promise<{ c: TablesCluster; moveToBj: () => void }> {
  let owner = { zone: 'sh-a', epoch: 1 };
  let heldUntil: number | undefined;
  const c = await tablesCluster({
    zones: ZONES,
    ddl: ORDERS,
    tables: [{ name: 'orders', class: 'sharded', conflict: 'lock' }],
    ownership: () => ({
      owner: () => owner,
      ownedUntil: (_shard, zone) => (zone === 'sh-a' ? heldUntil : undefined),
      shardCount: 16,
      hash: 'fnv1a',
    }),
  });
  return {
    c,
    moveToBj: () => {
      owner = { zone: 'bj-a', epoch: 2 };
      heldUntil = Date.now();
    },
  };
}

describe('replication tables (PostgreSQL)', { skip: !up && 'PostgreSQL not reachable at 127.0.0.1:5432' }, () => {
  describe('two zones, lock policy', () => {
    let c: TablesCluster;
    before(async () => {
      c = await tablesCluster({
        zones: ZONES,
        ddl: ORDERS,
        tables: [{ name: 'orders', class: 'sharded', conflict: 'lock' }],
      });
    });
    after(async () => c?.close());

    test('tables: insert, update and delete in one zone reach the other; json and timestamps kept exactly', async () => {
      await c.db('sh-a').query(
        `INSERT INTO orders (id, user_id, note, meta, updated) VALUES (1, 7, 'hi', '{"a":[1,2]}', '2026-01-02 03:04:05.123456+00'),
                (2, 8, NULL, NULL, now())`,
      );
      await c.db('sh-a').query("UPDATE orders SET note = 'changed' WHERE id = 1");
      await c.db('sh-a').query('DELETE FROM orders WHERE id = 2');
      const q = 'SELECT id, note, meta, updated FROM orders ORDER BY id';
      await until(async () => (await rows(c, 'bj-a', q)).length === 1 && (await converged(c, q)), 10_000, 'converge');
      const [r] = await rows(c, 'bj-a', q);
      assert.deepEqual(r.meta, { a: [1, 2] });
      assert.equal(r.note, 'changed');
      assert.equal((r.updated as Date).toISOString(), '2026-01-02T03:04:05.123Z');
      // versioned by the version trigger in the app's own transactions, read from the WAL: no
      // version statement of the decoder's; sh-a's entry counts the row's writes there
      assert.equal(c.tr.decoder('sh-a')!.counters.versionedHere, 0);
      // and applied in one statement each (nothing to decide: every change plainly newer)
      const k = c.tr.applierList().find((a) => a.zone === 'bj-a')!.counters;
      assert.ok(k.plain > 0 && k.plainMissed === 0, JSON.stringify(k));
      const v = await c.db('sh-a').query("SELECT vv FROM multizone.table_versions WHERE tbl = 'orders' AND key = '1'");
      assert.deepEqual(v.rows[0]?.vv, { 'sh-a': 2 });
      await until(async () => {
        const b = await c
          .db('bj-a')
          .query("SELECT vv FROM multizone.table_versions WHERE tbl = 'orders' AND key = '1'");
        return JSON.stringify(b.rows[0]?.vv) === JSON.stringify({ 'sh-a': 2 });
      });
    });

    test('tables: no loops under two-way traffic (each zone ships only its own writes)', async () => {
      const before0 = c.tr.decoder('sh-a')!.counters.shippedRows + c.tr.decoder('bj-a')!.counters.shippedRows;
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) {
        writes.push(c.db('sh-a').query('INSERT INTO orders (id, user_id, qty) VALUES ($1, 1, 1)', [1000 + i]));
        writes.push(c.db('bj-a').query('INSERT INTO orders (id, user_id, qty) VALUES ($1, 2, 1)', [2000 + i]));
      }
      await Promise.all(writes);
      await until(async () => (await rows(c, 'sh-a')).length === 401 && (await converged(c)), 20_000, 'converge');
      // give a loop the chance to show: the applied rows would come back as shipped rows
      await new Promise((r) => setTimeout(r, 300));
      const shipped = c.tr.decoder('sh-a')!.counters.shippedRows + c.tr.decoder('bj-a')!.counters.shippedRows;
      assert.equal(shipped - before0, 400);
      assert.ok(c.tr.decoder('sh-a')!.counters.skippedApplied > 0, 'the applied transactions were decoded and skipped');
    });

    test('tables: per-key order — every update of one key is applied in the order it was committed', async () => {
      await c.db('sh-a').query('INSERT INTO orders (id, user_id, qty) VALUES (50, 1, 0)');
      for (let q = 1; q <= 60; q++) await c.db('sh-a').query('UPDATE orders SET qty = $1 WHERE id = 50', [q]);
      await until(async () => (await rows(c, 'bj-a', 'SELECT qty FROM orders WHERE id = 50'))[0]?.qty === 60, 10_000);
      const h = (await c.db('bj-a').query('SELECT qty FROM history WHERE order_id = 50 ORDER BY id')).rows.map(
        (r) => r.qty,
      );
      for (let i = 1; i < h.length; i++) assert.ok(h[i] > h[i - 1], `history goes forward: ${h.join(',')}`);
    });

    test('tables: a concurrent write to one row in two zones is locked, not overwritten; resolving unlocks it everywhere', async () => {
      await c.db('sh-a').query('INSERT INTO orders (id, user_id, note) VALUES (77, 1, $1)', ['base']);
      await until(async () => (await rows(c, 'bj-a', 'SELECT 1 FROM orders WHERE id = 77')).length === 1);
      await c.tr.stop(); // a partition: both zones write before either sees the other's write
      await c.db('sh-a').query("UPDATE orders SET note = 'from sh-a' WHERE id = 77");
      await c.db('bj-a').query("UPDATE orders SET note = 'from bj-a' WHERE id = 77");
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 2, 10_000, 'both zones lock the row');
      const q = 'SELECT note FROM orders WHERE id = 77';
      assert.equal((await rows(c, 'sh-a', q))[0]?.note, 'from sh-a', 'the local row is kept');
      assert.equal((await rows(c, 'bj-a', q))[0]?.note, 'from bj-a', 'the local row is kept');
      // the app's writes to the locked key are refused with the documented SQLSTATE
      await assert.rejects(c.db('sh-a').query("UPDATE orders SET note = 'x' WHERE id = 77"), { code: LOCKED_SQLSTATE });
      // and an app can ask before it writes (or to show the row as locked when it reads it)
      const lockedQ = "SELECT multizone.locked('orders', '77') AS l";
      assert.equal((await c.db('sh-a').query(lockedQ)).rows[0].l, true);
      const conflict = (await c.tr.conflicts()).find((x) => x.zone === 'sh-a')!;
      assert.equal(conflict.origin, 'bj-a');
      assert.equal((conflict.remote as { note: string }).note, 'from bj-a');
      await c.tr.resolve(conflict.id, 'bj-a');
      await until(async () => (await c.tr.conflicts()).length === 0, 30_000, 'unlocked everywhere');
      await until(async () => (await rows(c, 'bj-a', q))[0]?.note === 'from bj-a' && (await converged(c, q)));
      assert.equal((await c.db('sh-a').query(lockedQ)).rows[0].l, false);
      await c.db('bj-a').query("UPDATE orders SET note = 'after' WHERE id = 77"); // writable again
      await until(async () => (await rows(c, 'sh-a', q))[0]?.note === 'after');
    });

    test('tables: a delete concurrent with an update locks both zones; picking the delete removes the row everywhere and unlocks it', async () => {
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (88, 1, 'base')");
      await until(async () => (await rows(c, 'bj-a', 'SELECT 1 FROM orders WHERE id = 88')).length === 1);
      await c.tr.stop();
      await c.db('sh-a').query('DELETE FROM orders WHERE id = 88');
      await c.db('bj-a').query("UPDATE orders SET note = 'from bj-a' WHERE id = 88");
      await c.restart();
      const mine = async () => (await c.tr.conflicts()).filter((x) => x.key === '88');
      await until(async () => (await mine()).length === 2, 10_000, 'both zones lock the row');
      const r = await c.tr.resolveAll({ pickZone: 'sh-a', ids: (await mine()).map((x) => x.id) });
      assert.equal(r.resolved.length, 2, JSON.stringify(r));
      await until(async () => (await mine()).length === 0, 10_000, 'unlocked everywhere');
      await until(
        async () => (await rows(c, 'bj-a', 'SELECT 1 FROM orders WHERE id = 88')).length === 0,
        10_000,
        'deleted in bj-a',
      );
      assert.equal((await rows(c, 'sh-a', 'SELECT 1 FROM orders WHERE id = 88')).length, 0);
    });

    test('tables: conflicts resolve --all --pick-zone resolves each locked key once, in the picked zone, by its row', async () => {
      await c.db('sh-a').query('INSERT INTO orders (id, user_id, note) VALUES (78, 1, $1), (79, 1, $1)', ['base']);
      await until(async () => (await rows(c, 'bj-a', 'SELECT 1 FROM orders WHERE id IN (78, 79)')).length === 2);
      await c.tr.stop();
      for (const z of ZONES) await c.db(z).query('UPDATE orders SET note = $1 WHERE id IN (78, 79)', [`from ${z}`]);
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 4, 10_000, 'both keys locked in both zones');
      const ids = (await c.tr.conflicts()).map((x) => x.id).sort();
      // a zone no process here runs: nothing resolved, each conflict skipped with the reason
      const elsewhere = await c.tr.resolveAll({ pickZone: 'gz-a' });
      assert.deepEqual(elsewhere.resolved, []);
      assert.equal(elsewhere.skipped.length, 4);
      assert.match(elsewhere.skipped[0]!.reason, /another process/);
      const dry = await c.tr.resolveAll({ pickZone: 'bj-a', dryRun: true });
      assert.deepEqual(dry.resolved, ids);
      assert.equal((await c.tr.conflicts()).length, 4, 'a dry run writes nothing');
      const r = await c.tr.resolveAll({ pickZone: 'bj-a' });
      assert.deepEqual(r.resolved, ids);
      assert.deepEqual(r.skipped, []);
      await until(async () => (await c.tr.conflicts()).length === 0, 30_000, 'unlocked everywhere');
      const q = 'SELECT id, note FROM orders WHERE id IN (78, 79) ORDER BY id';
      await until(
        async () => (await converged(c, q)) && (await rows(c, 'sh-a', q)).every((x) => x.note === 'from bj-a'),
      );
    });

    test('tables: an app write committed between an apply’s read and its write is not overwritten: the row is locked', async () => {
      const q = 'SELECT note FROM orders WHERE id = 80';
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (80, 1, 'base')");
      await until(async () => (await rows(c, 'bj-a', q)).length === 1);
      // the one-statement apply finds the row changed and leaves it to the read-then-write path
      const missed = () => {
        const k = c.tr.applierList().find((a) => a.zone === 'bj-a')!.counters;
        return k.raced + k.plainMissed;
      };
      const before = missed();
      // bj-a's app updates the row and holds it uncommitted: the applier's read does not see the
      // update, and its write of sh-a's change waits for the row; then the app commits
      const app = await c.db('bj-a').connect();
      try {
        await app.query('BEGIN');
        await app.query("UPDATE orders SET note = 'from bj-a' WHERE id = 80");
        await c.db('sh-a').query("UPDATE orders SET note = 'from sh-a' WHERE id = 80");
        await until(
          async () =>
            ((
              await c
                .db('bj-a')
                .query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            ).rowCount ?? 0) > 0,
          20_000,
          'the applier waiting for the row the app holds',
        );
        await app.query('COMMIT');
      } finally {
        app.release();
      }
      await until(
        async () => (await c.tr.conflicts()).filter((x) => x.key === '80').length === 2,
        20_000,
        'both zones lock the row',
      );
      assert.equal((await rows(c, 'bj-a', q))[0]?.note, 'from bj-a', 'the app’s write is kept, not overwritten');
      assert.equal((await rows(c, 'sh-a', q))[0]?.note, 'from sh-a');
      assert.ok(missed() > before, 'the apply was read again');
      const [one] = (await c.tr.conflicts()).filter((x) => x.key === '80');
      await c.tr.resolve(one!.id, 'sh-a');
      await until(async () => (await c.tr.conflicts()).length === 0, 30_000, 'unlocked everywhere');
      await until(async () => (await rows(c, 'bj-a', q))[0]?.note === 'from sh-a' && (await converged(c, q)));
    });

    test('tables: TRUNCATE is replicated', async () => {
      await c.db('bj-a').query('TRUNCATE orders');
      await until(async () => (await rows(c, 'sh-a')).length === 0, 10_000, 'truncated in sh-a');
      await c.db('sh-a').query('INSERT INTO orders (id, user_id) VALUES (5, 5)');
      await until(async () => (await rows(c, 'bj-a')).length === 1 && (await converged(c)));
    });

    test('tables: a large transaction (25,000 rows, batches of 1,000) arrives whole', async () => {
      await c
        .db('sh-a')
        .query('INSERT INTO orders (id, user_id, qty) SELECT g, g % 100, 1 FROM generate_series(100000, 124999) g');
      await until(
        async () =>
          Number((await rows(c, 'bj-a', 'SELECT count(*) AS n FROM orders WHERE id >= 100000'))[0]?.n) === 25_000,
        30_000,
        'large transaction applied',
      );
    });

    test('tables: a dropped slot is replaced by a catch-up snapshot, then streaming', async () => {
      await c.tr.stop();
      const slot = (
        await c.db('sh-a').query('SELECT slot_name FROM pg_replication_slots WHERE database = current_database()')
      ).rows[0]!.slot_name;
      await c.db('sh-a').query('SELECT pg_drop_replication_slot($1)', [slot]);
      await c.db('sh-a').query('INSERT INTO orders (id, user_id) VALUES (300001, 1), (300002, 2)');
      await c.restart();
      await until(
        async () => (await rows(c, 'bj-a', 'SELECT id FROM orders WHERE id > 300000')).length === 2,
        20_000,
        'snapshot',
      );
      await c.db('sh-a').query('INSERT INTO orders (id, user_id) VALUES (300003, 3)');
      await until(
        async () => (await rows(c, 'bj-a', 'SELECT id FROM orders WHERE id > 300000')).length === 3,
        10_000,
        'stream',
      );
      assert.ok(c.tr.decoder('sh-a')!.counters.snapshotRows > 0);
    });
  });

  test('tables: exactly once under a killed applier (its backend terminated mid-stream, then restarted)', async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: ORDERS,
      tables: [{ name: 'orders', class: 'sharded', conflict: 'lock' }],
    });
    try {
      const N = 3000;
      const writer = (async () => {
        for (let i = 0; i < N; i += 10) {
          const ids = Array.from({ length: 10 }, (_, k) => i + k + 1);
          await c.db('sh-a').query('INSERT INTO orders (id, user_id, qty) SELECT unnest($1::bigint[]), 1, 1', [ids]);
        }
      })();
      await until(async () => Number((await rows(c, 'bj-a', 'SELECT n FROM applied_count'))[0]?.n) > 200, 20_000);
      // kill the applier's backend (it holds the replication origin session): its open transaction rolls back
      const killed = await c
        .db('bj-a')
        .query(
          "SELECT pg_terminate_backend(pid) FROM pg_replication_origin_status s JOIN pg_stat_activity a ON a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND a.application_name = '' WHERE s.local_id IS NOT NULL",
        );
      assert.ok((killed.rowCount ?? 0) > 0);
      await writer;
      await c.restart();
      await until(
        async () => Number((await rows(c, 'bj-a', 'SELECT count(*) AS n FROM orders'))[0]?.n) === N,
        30_000,
        'all rows',
      );
      await new Promise((r) => setTimeout(r, 300));
      // each row applied exactly once: the ALWAYS trigger counted one insert per row
      assert.equal(Number((await rows(c, 'bj-a', 'SELECT n FROM applied_count'))[0]?.n), N);
    } finally {
      await c.close();
    }
  });

  test('tables: with the in-process log, a change shipped but not yet applied everywhere survives a process restart (the slot waits for the destinations)', async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: ORDERS,
      tables: [{ name: 'orders', class: 'sharded', conflict: 'lock' }],
    });
    try {
      // bj-a does not get sh-a's batches for now; sh-a ships one
      c.log.cut(tableStreamOf('sh-a'), 'bj-a');
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (1, 1, 'kept')");
      await until(async () => c.tr.decoder('sh-a')!.counters.shippedRows === 1, 10_000, 'shipped');
      await new Promise((r) => setTimeout(r, 300)); // room for an acknowledgement to reach the slot
      // the process dies: the in-process log and what it held are gone
      await c.restart({ freshLog: true });
      await until(
        async () => (await rows(c, 'bj-a')).length === 1,
        10_000,
        'the change reaches bj-a after the restart',
      );
      assert.equal((await rows(c, 'bj-a'))[0]!.note, 'kept');
    } finally {
      await c.close();
    }
  });

  test('tables: a write decoded in a zone that does not own its shard is counted and recorded, never applied elsewhere', async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: ORDERS,
      tables: [{ name: 'orders', class: 'sharded', shard: { column: 'user_id' }, conflict: 'lock' }],
      ownership: () => ({ owner: () => ({ zone: 'bj-a', epoch: 3 }), shardCount: 16, hash: 'fnv1a' }),
    });
    try {
      await c.db('sh-a').query('INSERT INTO orders (id, user_id) VALUES (1, 1)');
      await c.db('bj-a').query('INSERT INTO orders (id, user_id) VALUES (2, 2)');
      await until(async () => (await rows(c, 'sh-a')).length === 2, 10_000, 'owner write replicated');
      await until(async () => c.tr.counts().misrouted === 1, 10_000, 'misrouted counted');
      assert.deepEqual(
        (await rows(c, 'bj-a')).map((r) => r.id),
        ['2'],
      );
      const m = (await c.db('sh-a').query('SELECT tbl, key, owner, epoch FROM multizone.table_misrouted')).rows;
      assert.deepEqual(m, [{ tbl: 'orders', key: '1', owner: 'bj-a', epoch: 3 }]);
    } finally {
      await c.close();
    }
  });

  test('tables: a write committed before its zone lost the shard is shipped even when decoded after the move; one after it is misrouted', async () => {
    const { c, moveToBj } = await movingShards();
    try {
      // sh-a's replication is down (a restart) while it writes, and its shards move meanwhile
      await c.tr.stop();
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (1, 1, 'before the move')");
      await new Promise((r) => setTimeout(r, 20));
      moveToBj();
      await new Promise((r) => setTimeout(r, 20));
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (2, 2, 'after the move')");
      await c.restart();
      await until(async () => c.tr.counts().misrouted === 1, 10_000, 'the later write counted misrouted');
      await until(async () => (await rows(c, 'bj-a')).length === 1, 10_000, 'the earlier write shipped');
      assert.deepEqual(
        (await rows(c, 'bj-a')).map((r) => [r.id, r.note]),
        [['1', 'before the move']],
      );
      const m = (await c.db('sh-a').query('SELECT key, owner, epoch FROM multizone.table_misrouted')).rows;
      assert.deepEqual(m, [{ key: '2', owner: 'bj-a', epoch: 2 }]);
    } finally {
      await c.close();
    }
  });

  test('tables: a conflict from a failover resolved in the zone that lost the shard replicates (a resolution is never misrouted)', async () => {
    const { c, moveToBj } = await movingShards();
    const note = async (z: string) => (await rows(c, z, 'SELECT note FROM orders WHERE id = 1'))[0]?.note;
    try {
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note) VALUES (1, 1, 'base')");
      await until(async () => (await note('bj-a')) === 'base', 10_000, 'base row');
      // sh-a writes, cut off; the shard moves to bj-a, which writes the row too
      await c.tr.stop();
      await c.db('sh-a').query("UPDATE orders SET note = 'from sh-a' WHERE id = 1");
      await new Promise((r) => setTimeout(r, 20));
      moveToBj();
      await c.db('bj-a').query("UPDATE orders SET note = 'from bj-a' WHERE id = 1");
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 2, 10_000, 'both zones lock the row');
      // the operator keeps sh-a's row: written in sh-a, which no longer owns the shard
      const r = await c.tr.resolveAll({ pickZone: 'sh-a' });
      assert.equal(r.resolved.length, 2, JSON.stringify(r));
      await until(async () => (await note('bj-a')) === 'from sh-a', 10_000, "bj-a takes sh-a's row");
      await until(async () => (await c.tr.conflicts()).length === 0, 10_000, 'unlocked everywhere');
      assert.equal(await note('sh-a'), 'from sh-a');
      assert.equal(c.tr.counts().misrouted, 0);
      // and bj-a, the owner, writes the row again as usual
      await c.db('bj-a').query("UPDATE orders SET note = 'after' WHERE id = 1");
      await until(async () => (await note('sh-a')) === 'after', 10_000, 'later write');
    } finally {
      await c.close();
    }
  });

  test('tables: lww by a column — both zones keep the later write', async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: ORDERS,
      tables: [{ name: 'orders', class: 'sharded', conflict: { lww: 'updated' } }],
    });
    try {
      await c.db('sh-a').query("INSERT INTO orders (id, user_id, note, updated) VALUES (9, 1, 'base', '2026-01-01')");
      await until(async () => (await rows(c, 'bj-a')).length === 1);
      await c.tr.stop();
      await c.db('sh-a').query("UPDATE orders SET note = 'later', updated = '2026-01-03' WHERE id = 9");
      await c.db('bj-a').query("UPDATE orders SET note = 'earlier', updated = '2026-01-02' WHERE id = 9");
      await c.restart();
      await until(async () => (await rows(c, 'bj-a'))[0]?.note === 'later' && (await converged(c)), 10_000, 'lww');
      assert.equal((await c.tr.conflicts()).length, 0);
    } finally {
      await c.close();
    }
  });

  test('tables: array, json, bytea, numeric and NULL columns arrive as written, through insert, update and delete', async () => {
    const ddl = `CREATE TABLE docs (id int PRIMARY KEY, tags text[], nums int[], grid int[][], meta jsonb,
        raw bytea, price numeric(12,4), note text);
      ALTER TABLE docs REPLICA IDENTITY FULL;`;
    const c = await tablesCluster({
      zones: ZONES,
      ddl,
      tables: [{ name: 'docs', class: 'sharded', conflict: 'lock' }],
    });
    const sql = 'SELECT id, tags, nums, grid, meta, raw, price, note FROM docs ORDER BY id';
    try {
      await c.db('sh-a').query(
        `INSERT INTO docs VALUES
           (1, ARRAY['a', 'b c', 'd"e', 'f,g', NULL, '{x}'], ARRAY[1, -2, 3], ARRAY[[1, 2], [3, 4]],
            '{"k": [1, "two", null], "é": true}', '\\x00ff10', 12.3400, 'plain'),
           (2, '{}', NULL, NULL, 'null', '', NULL, NULL)`,
      );
      await until(async () => (await rows(c, 'bj-a', sql)).length === 2, 20_000, 'insert');
      assert.ok(await converged(c, sql), JSON.stringify(await rows(c, 'bj-a', sql)));
      const [one] = await rows(c, 'bj-a', sql);
      assert.deepEqual(one.tags, ['a', 'b c', 'd"e', 'f,g', null, '{x}']);
      assert.deepEqual(one.grid, [
        [1, 2],
        [3, 4],
      ]);
      await c.db('bj-a').query("UPDATE docs SET tags = array_append(tags, 'new'), nums = NULL WHERE id = 1");
      await until(async () => (await rows(c, 'sh-a', sql))[0]?.tags?.at(-1) === 'new', 20_000, 'update');
      assert.ok(await converged(c, sql));
      await c.db('sh-a').query('DELETE FROM docs WHERE id = 2');
      await until(async () => (await rows(c, 'bj-a', sql)).length === 1, 20_000, 'delete');
      assert.ok(await converged(c, sql));
      assert.equal((await c.tr.conflicts()).length, 0);
    } finally {
      await c.close();
    }
  });

  test('tables: quoted mixed-case names, enums, domains and a generated column replicate', async () => {
    const ddl = `CREATE TYPE mood AS ENUM ('calm', 'busy');
      CREATE DOMAIN qty AS int CHECK (VALUE >= 0);
      CREATE TABLE "Line Items" ("Id" int PRIMARY KEY, "Mood" mood, amount qty, price int,
        total int GENERATED ALWAYS AS (amount * price) STORED);
      ALTER TABLE "Line Items" REPLICA IDENTITY FULL;`;
    const c = await tablesCluster({
      zones: ZONES,
      ddl,
      tables: [{ name: 'Line Items', class: 'sharded', conflict: 'lock' }],
    });
    const sql = 'SELECT "Id", "Mood", amount, price, total FROM "Line Items" ORDER BY "Id"';
    try {
      await c.db('sh-a').query(`INSERT INTO "Line Items" ("Id", "Mood", amount, price) VALUES (1, 'calm', 2, 5)`);
      await until(async () => (await rows(c, 'bj-a', sql)).length === 1, 20_000, 'insert');
      assert.deepEqual(await rows(c, 'bj-a', sql), [{ Id: 1, Mood: 'calm', amount: 2, price: 5, total: 10 }]);
      await c.db('bj-a').query(`UPDATE "Line Items" SET amount = 3, "Mood" = 'busy' WHERE "Id" = 1`);
      await until(async () => (await rows(c, 'sh-a', sql))[0]?.total === 15, 20_000, 'update');
      assert.ok(await converged(c, sql));
      assert.equal((await c.tr.conflicts()).length, 0);
    } finally {
      await c.close();
    }
  });

  test("tables: identity keys (GENERATED ALWAYS and BY DEFAULT) replicate with the source row's value", async () => {
    const ddl = `CREATE TABLE ia (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
      CREATE TABLE ib (id bigint GENERATED BY DEFAULT AS IDENTITY (START 100) PRIMARY KEY, v text);
      CREATE TABLE ic (id int PRIMARY KEY, n bigint GENERATED ALWAYS AS IDENTITY (START 7), v text);
      ALTER TABLE ia REPLICA IDENTITY FULL; ALTER TABLE ib REPLICA IDENTITY FULL; ALTER TABLE ic REPLICA IDENTITY FULL;`;
    const c = await tablesCluster({
      zones: ZONES,
      ddl,
      tables: [
        { name: 'ia', class: 'sharded', conflict: 'lock' },
        { name: 'ib', class: 'sharded', conflict: 'lock' },
        { name: 'ic', class: 'sharded', conflict: 'lock' },
      ],
    });
    const sql = "SELECT 'a' AS t, id::text, v FROM ia UNION ALL SELECT 'b', id::text, v FROM ib ORDER BY 1, 2";
    const icSql = 'SELECT id, n::text, v FROM ic';
    try {
      await c.db('sh-a').query("INSERT INTO ia (v) VALUES ('x'), ('y'); INSERT INTO ib (v) VALUES ('z')");
      await until(async () => (await rows(c, 'bj-a', sql)).length === 3, 20_000, 'identity rows');
      assert.deepEqual(await rows(c, 'bj-a', sql), [
        { t: 'a', id: '1', v: 'x' },
        { t: 'a', id: '2', v: 'y' },
        { t: 'b', id: '100', v: 'z' },
      ]);
      await c.db('bj-a').query("UPDATE ia SET v = 'x2' WHERE id = 1");
      await until(async () => (await rows(c, 'sh-a', sql))[0]?.v === 'x2', 20_000, 'update');
      assert.ok(await converged(c, sql));
      // a non-key identity column: inserted with the source's value, kept by updates
      await c.db('sh-a').query("INSERT INTO ic (id, v) VALUES (1, 'p')");
      await until(async () => (await rows(c, 'bj-a', icSql)).length === 1, 20_000, 'ic insert');
      await c.db('bj-a').query("UPDATE ic SET v = 'q' WHERE id = 1");
      await until(async () => (await rows(c, 'sh-a', icSql))[0]?.v === 'q', 20_000, 'ic update');
      assert.deepEqual(await rows(c, 'sh-a', icSql), [{ id: 1, n: '7', v: 'q' }]);
      assert.ok(await converged(c, icSql));
    } finally {
      await c.close();
    }
  });

  test('tables: with refusedAfterMs never, a row the destination refuses (a unique column another row holds) holds its link, logged once with the constraint, not per retry', async () => {
    const { lines, logger } = warnings();
    const c = await tablesCluster({
      zones: ZONES,
      ddl: 'CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); ALTER TABLE u REPLICA IDENTITY FULL;',
      tables: [{ name: 'u', class: 'sharded', conflict: 'lock' }],
      refusedAfterMs: 'never',
      start: false,
      logger,
    });
    try {
      await c.db('sh-a').query("INSERT INTO u VALUES (1, 'a@x')");
      await c.db('bj-a').query("INSERT INTO u VALUES (2, 'a@x')");
      await c.tr.start();
      await c.db('sh-a').query("INSERT INTO u VALUES (3, 'b@x')");
      await until(async () => c.tr.counts().errors >= 10, 20_000, 'retries');
      // nothing is skipped: the later row waits behind the refused one (as PostgreSQL's own subscription does)
      assert.deepEqual(
        (await rows(c, 'bj-a', 'SELECT id FROM u ORDER BY id')).map((r) => r.id),
        [2],
      );
      const refused = lines.filter((l) => /duplicate key value violates unique constraint/.test(l.msg));
      assert.ok(
        refused.length >= 1 && refused.length <= 2,
        `${refused.length} warnings for ${c.tr.counts().errors} failures`,
      );
      assert.equal(refused[0]!.constraint, 'u_email_key');
      assert.match(refused[0]!.msg, /Key \(email\)=\(a@x\) already exists/);
    } finally {
      await c.close();
    }
  });

  test('tables: a row the destination refuses is held as a conflict after refusedAfterMs (key locked, the rest of the link flows); freeing the constraint and resolving converges', async () => {
    const { lines, logger } = warnings();
    const c = await tablesCluster({
      zones: ZONES,
      ddl: 'CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); ALTER TABLE u REPLICA IDENTITY FULL;',
      tables: [{ name: 'u', class: 'sharded', conflict: 'lock' }],
      refusedAfterMs: 300,
      logger,
    });
    const ids = async (z: string) =>
      (await rows(c, z, 'SELECT id, email FROM u ORDER BY id')).map((r) => `${r.id}=${r.email}`);
    try {
      // a partition: one e-mail registered under two ids, one of them in a transaction with a good row
      await c.tr.stop();
      await c.db('sh-a').query("INSERT INTO u VALUES (1, 'a@x'), (4, 'd@x')");
      await c.db('bj-a').query("INSERT INTO u VALUES (2, 'a@x')");
      await c.restart();
      await c.db('sh-a').query("INSERT INTO u VALUES (3, 'b@x')");
      // each zone refuses the other's a@x and holds it; the rows beside and behind it arrive
      await until(async () => (await ids('bj-a')).join() === '2=a@x,3=b@x,4=d@x', 15_000, 'bj-a gets the rest');
      await until(async () => (await c.tr.conflicts()).length === 2, 15_000, 'both zones hold the refused row');
      assert.deepEqual(await ids('sh-a'), ['1=a@x', '3=b@x', '4=d@x']);
      const open = await c.tr.conflicts();
      assert.deepEqual(open.map((x) => `${x.zone}:${x.key}:${x.origin}`).sort(), ['bj-a:1:sh-a', 'sh-a:2:bj-a']);
      for (const x of open) {
        assert.equal(x.local, null);
        assert.match(x.reason ?? '', /u_email_key.*Key \(email\)=\(a@x\) already exists/);
      }
      const inBj = open.find((x) => x.zone === 'bj-a')!;
      assert.deepEqual(inBj.remote, { id: '1', email: 'a@x' }); // as decoded: PostgreSQL's text of each value
      assert.ok(
        lines.some((l) => l.conflict === inBj.id && l.constraint === 'u_email_key'),
        'logged with its conflict id',
      );
      // the key is locked where it was refused
      await assert.rejects(c.db('bj-a').query("INSERT INTO u VALUES (1, 'z@x')"), { code: LOCKED_SQLSTATE });
      // sh-a's row is still refused in bj-a (row 2 holds a@x there): a clear error, nothing changed
      await assert.rejects(c.tr.resolve(inBj.id, 'sh-a'), { code: 'ERR_REPL_TABLES_REFUSED', message: /u_email_key/ });
      // free the e-mail where it is held: bj-a moves row 2 to c@x; sh-a applies it (it has seen
      // every write of key 2 there: none) and unlocks key 2
      await c.db('bj-a').query("UPDATE u SET email = 'c@x' WHERE id = 2");
      await until(async () => (await c.tr.conflicts()).length === 1, 15_000, "sh-a's conflict resolved by the write");
      const shippedBefore = c.tr.decoder('bj-a')!.counters.shippedRows;
      await c.tr.resolve(inBj.id, 'sh-a');
      // written in bj-a as its applier would have (sh-a's version, no write of bj-a's own)
      const v1 = await c.db('bj-a').query("SELECT vv FROM multizone.table_versions WHERE tbl = 'u' AND key = '1'");
      assert.deepEqual(v1.rows[0]?.vv, { 'sh-a': 1 });
      const want = '1=a@x,2=c@x,3=b@x,4=d@x';
      await until(
        async () => (await ids('bj-a')).join() === want && (await ids('sh-a')).join() === want,
        15_000,
        'converge',
      );
      assert.deepEqual(await c.tr.conflicts(), []);
      // nothing locked any more: both zones take writes to keys 1 and 2
      await c.db('bj-a').query("UPDATE u SET email = 'a2@x' WHERE id = 1");
      await c.db('sh-a').query("UPDATE u SET email = 'c2@x' WHERE id = 2");
      const after = '1=a2@x,2=c2@x,3=b@x,4=d@x';
      await until(
        async () => (await ids('bj-a')).join() === after && (await ids('sh-a')).join() === after,
        15_000,
        'after',
      );
      // bj-a shipped its update of key 1, not the resolution before it (sh-a holds that row)
      assert.equal(c.tr.decoder('bj-a')!.counters.shippedRows - shippedBefore, 1);
      const refused = c.tr.applierList().reduce((n, a) => n + a.counters.refused, 0);
      assert.equal(refused, 2);
    } finally {
      await c.close();
    }
  });

  test('tables: foreign keys and deferrable unique constraints of a replicated table are named at startup as not checked on applies', async () => {
    const { lines, logger } = warnings();
    const c = await tablesCluster({
      zones: ZONES,
      ddl: `CREATE TABLE parent (id int PRIMARY KEY);
            CREATE TABLE kid (id int PRIMARY KEY, parent_id int REFERENCES parent (id), code text,
              CONSTRAINT kid_code_key UNIQUE (code) DEFERRABLE INITIALLY DEFERRED, note text UNIQUE);
            ALTER TABLE kid REPLICA IDENTITY FULL;`,
      tables: [{ name: 'kid', class: 'sharded', conflict: 'lock' }],
      logger,
    });
    try {
      const named = lines.filter((l) => l.zone === 'sh-a').map((l) => l.constraint);
      assert.deepEqual(named, ['kid_code_key', 'kid_parent_id_fkey']);
      assert.match(
        lines.find((l) => l.constraint === 'kid_code_key')!.msg,
        /deferrable unique .*make it non-deferrable/,
      );
      // a plain unique constraint is checked by its index: not named
      assert.ok(!lines.some((l) => l.constraint === 'kid_note_key'));
    } finally {
      await c.close();
    }
  });

  test("tables: a text key with ':' in it: a conflict resolved by the deleting zone deletes that row, not another", async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: 'CREATE TABLE s (id text PRIMARY KEY, v text); ALTER TABLE s REPLICA IDENTITY FULL;',
      tables: [{ name: 's', class: 'sharded', conflict: 'lock' }],
    });
    const ids = async (z: string) => (await rows(c, z, 'SELECT id FROM s ORDER BY id')).map((r) => r.id);
    try {
      await c.db('sh-a').query("INSERT INTO s VALUES ('a', 'other'), ('a:b', 'base')");
      await until(async () => (await ids('bj-a')).length === 2, 10_000, 'rows everywhere');
      await c.tr.stop();
      await c.db('sh-a').query("DELETE FROM s WHERE id = 'a:b'");
      await c.db('bj-a').query("UPDATE s SET v = 'from bj-a' WHERE id = 'a:b'");
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 2, 10_000, 'both zones lock a:b');
      assert.deepEqual([...new Set((await c.tr.conflicts()).map((x) => x.key))], ['a:b']);
      const r = await c.tr.resolveAll({ pickZone: 'sh-a' });
      assert.equal(r.resolved.length, 2, JSON.stringify(r));
      await until(async () => (await ids('bj-a')).join() === 'a', 10_000, 'a:b deleted in bj-a, a kept');
      assert.deepEqual(await ids('sh-a'), ['a']);
      await until(async () => (await c.tr.conflicts()).length === 0, 10_000, 'unlocked');
    } finally {
      await c.close();
    }
  });

  test("tables: a refused row resolved by the refusing zone's absence of it deletes it in the origin", async () => {
    const c = await tablesCluster({
      zones: ZONES,
      ddl: 'CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); ALTER TABLE u REPLICA IDENTITY FULL;',
      tables: [{ name: 'u', class: 'sharded', conflict: 'lock' }],
      refusedAfterMs: 0,
    });
    const ids = async (z: string) => (await rows(c, z, 'SELECT id FROM u ORDER BY id')).map((r) => String(r.id));
    try {
      // a partition: one e-mail under two ids; each zone refuses the other's row
      await c.tr.stop();
      await c.db('bj-a').query("INSERT INTO u VALUES (2, 'b@x')");
      await c.db('sh-a').query("INSERT INTO u VALUES (1, 'b@x')");
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 2, 10_000, 'refused and held in both');
      const held = (await c.tr.conflicts()).find((x) => x.zone === 'bj-a')!;
      assert.equal(held.key, '1');
      assert.equal(held.local, null);
      // keep bj-a's side (no row 1): sh-a's row 1 is deleted
      await c.tr.resolve(held.id, 'bj-a');
      await until(async () => (await ids('sh-a')).join() === '', 10_000, "sh-a's row 1 deleted");
      // b@x is free in sh-a now: its own conflict (bj-a's row 2) resolves by bj-a's row
      const other = (await c.tr.conflicts()).find((x) => x.zone === 'sh-a')!;
      await c.tr.resolve(other.id, 'bj-a');
      assert.deepEqual(await ids('sh-a'), ['2']);
      assert.deepEqual(await ids('bj-a'), ['2']);
      assert.deepEqual(await c.tr.conflicts(), []);
      // both keys take writes again, and they replicate
      await c.db('sh-a').query("INSERT INTO u VALUES (1, 'c@x')");
      await until(async () => (await ids('bj-a')).join() === '1,2', 10_000, 'key 1 written again');
    } finally {
      await c.close();
    }
  });

  test('tables: a key whose text depends on the session (timestamptz) is versioned by the decoder; concurrent writes still lock', async () => {
    const ddl = `CREATE TABLE slots (at timestamptz PRIMARY KEY, note text); ALTER TABLE slots REPLICA IDENTITY FULL;`;
    const c = await tablesCluster({
      zones: ZONES,
      ddl,
      tables: [{ name: 'slots', class: 'sharded', conflict: 'lock' }],
    });
    try {
      const q = 'SELECT note FROM slots';
      await c.db('sh-a').query("INSERT INTO slots VALUES ('2026-01-01 10:00+00', 'base')");
      await until(async () => (await rows(c, 'bj-a', q)).length === 1);
      await c.db('sh-a').query("UPDATE slots SET note = 'again'");
      await until(async () => (await rows(c, 'bj-a', q))[0]?.note === 'again');
      assert.equal(c.tr.decoder('sh-a')!.counters.versionedHere, 2, 'both writes versioned by the decoder');
      await c.tr.stop();
      await c.db('sh-a').query("UPDATE slots SET note = 'from sh-a'");
      await c.db('bj-a').query("UPDATE slots SET note = 'from bj-a'");
      await c.restart();
      await until(async () => (await c.tr.conflicts()).length === 2, 20_000, 'both zones lock the row');
      assert.equal((await rows(c, 'bj-a', q))[0]?.note, 'from bj-a');
    } finally {
      await c.close();
    }
  });

  describe('startup checks', () => {
    const admin = new pg.Pool({ connectionString: PG_ADMIN, max: 1 });
    after(async () => admin.end());

    test('tables: a table without a primary key is refused, naming the table', async () => {
      const c = await tablesCluster({
        zones: ['sh-a'],
        ddl: 'CREATE TABLE nokey (a int, b text); ALTER TABLE nokey REPLICA IDENTITY FULL;',
        tables: [{ name: 'nokey', class: 'sharded', conflict: 'lock' }],
        start: false,
      });
      try {
        await assert.rejects(c.tr.start(), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'ERR_REPL_TABLES_NO_KEY');
          assert.match(e.message, /public\.nokey/);
          return true;
        });
      } finally {
        await c.close();
      }
    });

    test('tables: a generated column as the lww column is refused, naming table and column; generated columns differing between zones are a mismatch', async () => {
      const c = await tablesCluster({
        zones: ['sh-a', 'bj-a'],
        ddl: `CREATE TABLE g (id int PRIMARY KEY, a int, stamp int GENERATED ALWAYS AS (a * 2) STORED);
              ALTER TABLE g REPLICA IDENTITY FULL;`,
        tables: [{ name: 'g', class: 'sharded', conflict: { lww: 'stamp' } }],
        start: false,
      });
      try {
        await assert.rejects(c.tr.start(), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'ERR_REPL_TABLES_GENERATED');
          assert.match(e.message, /names column stamp, a generated column of public\.g/);
          return true;
        });
        const [a, b] = await Promise.all(
          ['sh-a', 'bj-a'].map((z) => checkTables(c.db(z), z, [{ name: 'g', class: 'sharded', conflict: 'lock' }])),
        );
        assert.deepEqual(a![0]!.generated, ['stamp integer']);
        compareZones({ zone: 'sh-a', tables: a! }, { zone: 'bj-a', tables: b! }); // the same: no throw
        await c.db('bj-a').query('ALTER TABLE g DROP COLUMN stamp');
        const b2 = await checkTables(c.db('bj-a'), 'bj-a', [{ name: 'g', class: 'sharded', conflict: 'lock' }]);
        assert.throws(() => compareZones({ zone: 'sh-a', tables: a! }, { zone: 'bj-a', tables: b2 }), {
          code: 'ERR_REPL_TABLES_MISMATCH',
        });
      } finally {
        await c.close();
      }
    });

    test('tables: a table that is not REPLICA IDENTITY FULL, or missing, is refused', async () => {
      const c = await tablesCluster({
        zones: ['sh-a'],
        ddl: 'CREATE TABLE t (id int PRIMARY KEY, v text);',
        tables: [{ name: 't', class: 'sharded', conflict: 'lock' }],
        start: false,
      });
      try {
        await assert.rejects(c.tr.start(), { code: 'ERR_REPL_TABLES_IDENTITY' });
        await assert.rejects(
          checkTables(c.db('sh-a'), 'sh-a', [{ name: 'nope', class: 'sharded', conflict: 'lock' }]),
          {
            code: 'ERR_REPL_TABLES_NO_TABLE',
          },
        );
      } finally {
        await c.close();
      }
    });

    test('tables: tables that differ between zones are refused (DDL is not replicated)', async () => {
      const c = await tablesCluster({
        zones: ZONES,
        ddl: 'CREATE TABLE t (id int PRIMARY KEY, v text); ALTER TABLE t REPLICA IDENTITY FULL;',
        tables: [{ name: 't', class: 'sharded', conflict: 'lock' }],
        start: false,
      });
      try {
        await c.db('bj-a').query('ALTER TABLE t ADD COLUMN extra int');
        await assert.rejects(c.tr.start(), { code: 'ERR_REPL_TABLES_MISMATCH' });
      } finally {
        await c.close();
      }
    });

    test('tables: wal_level is checked (the real server passes; any other level is refused with the setting named)', async () => {
      await checkWalLevel(admin, 'sh-a');
      for (const level of ['replica', 'minimal'])
        assert.throws(
          () => walLevelVerdict(level, 'sh-a'),
          (e: Error & { code?: string }) =>
            e.code === 'ERR_REPL_TABLES_WAL_LEVEL' && /wal_level = logical/.test(e.message),
        );
    });
  });
});
