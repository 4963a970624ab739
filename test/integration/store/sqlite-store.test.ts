import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { MemoryFence, SqliteStore } from '../../../src/store/index.ts';
import { depsFor, storeContract, storeTestTopology } from './store.contract.ts';

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-store-'));
  return {
    open: async (deps, where) => new SqliteStore({ ...deps, file: join(dir, where.ns, `${where.zone}.db`) }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    around: async (store, sql) => {
      const db = new Database((store as SqliteStore).file);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
  };
});

test('store(sqlite): a zone file held by a running store is refused with ERR_STORE_IN_USE; a stale lock is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-store-lock-'));
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const file = join(dir, 'sh-a.db');
  try {
    const first = new SqliteStore({ ...depsFor('sh-a', topology, fence), file });
    assert.throws(
      () => new SqliteStore({ ...depsFor('sh-a', topology, fence), file }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_STORE_IN_USE');
        assert.match(e.message, /sh-a\.db is in use/);
        assert.match(e.message, /store\.dataDir/);
        return true;
      },
    );
    // another process's lock: refused while it lives
    writeFileSync(`${file}.lock`, '1\n'); // pid 1 is always alive
    await first.close();
    writeFileSync(`${file}.lock`, '1\n');
    assert.throws(() => new SqliteStore({ ...depsFor('sh-a', topology, fence), file }), { code: 'ERR_STORE_IN_USE' });
    // a crashed process's lock: a pid that cannot exist
    writeFileSync(`${file}.lock`, '4194304999\n');
    const again = new SqliteStore({ ...depsFor('sh-a', topology, fence), file });
    assert.equal(readFileSync(`${file}.lock`, 'utf8').trim(), String(process.pid));
    await again.close();
    assert.equal(existsSync(`${file}.lock`), false, 'close releases the lock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('store(sqlite): the change ring holds what is not shipped yet, not every change since start (issue 24)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-store-ring-'));
  const topology = storeTestTopology();
  const store = new SqliteStore({
    ...depsFor('sh-a', topology, new MemoryFence(topology.initialOwners())),
    file: join(dir, 'sh-a.db'),
  });
  const ring = () => (store as unknown as { ring: { seq: number }[] }).ring.map((c) => c.seq);
  try {
    for (let i = 1; i <= 300; i++)
      await store.put({ resource: 'profiles', key: `u${i}`, shard: 1, epoch: 1, value: i });
    assert.equal(ring().length, 300);
    await store.markShipped(298);
    assert.deepEqual(ring(), [299, 300]);
    await store.markShipped(300);
    assert.deepEqual(ring(), [300], 'the newest stays, so an idle poll is answered without a query');
    await store.put({ resource: 'profiles', key: 'u301', shard: 1, epoch: 1, value: 301 });
    assert.deepEqual(ring(), [300, 301]);
    assert.deepEqual(
      (await store.changesAfter(300, 10)).map((c) => c.seq),
      [301],
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
