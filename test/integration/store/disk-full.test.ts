/**
 * A zone's disk fills up under its SQLite store: writes fail with ERR_STORE_UNAVAILABLE naming
 * the file, nothing refused is kept, nothing acknowledged is lost, reads go on, and writes work
 * again once there is room. A small tmpfs is the disk (mounting needs root; skipped without).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { MemoryFence, resourcePolicies, SqliteStore } from '../../../src/store/index.ts';
import { storeTestTopology } from './store.contract.ts';

test('SQLite store on a full disk: a clear error, nothing acknowledged lost, writes again once there is room', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return t.skip(`cannot mount a small tmpfs (needs root): ${(e as Error).message.split('\n')[0]}`);
  }
  const topology = storeTestTopology();
  const fence = new MemoryFence(topology.initialOwners());
  const deps = { zone: 'sh-a', topology, fence, policies: resourcePolicies(topology, fence), clock: systemClock };
  const file = join(dir, 'sh-a.db');
  const shard = topology.initialOwners().indexOf('sh-a');
  let store = new SqliteStore({ ...deps, file });
  try {
    // leave little room beside the store
    writeFileSync(join(dir, 'filler'), Buffer.alloc(1024 * 1024));
    const acked: string[] = [];
    let refused: unknown;
    for (let i = 0; i < 2000 && !refused; i++) {
      const batch = Array.from({ length: 5 }, (_, j) => ({
        resource: 'profiles',
        key: `k${i}-${j}`,
        shard,
        epoch: 1,
        value: { pad: 'x'.repeat(1500) },
      }));
      try {
        await store.putMany(batch);
        acked.push(...batch.map((w) => w.key));
      } catch (e) {
        refused = e;
      }
    }
    assert.ok(refused, 'the disk never filled');
    assert.equal((refused as { code?: string }).code, 'ERR_STORE_UNAVAILABLE');
    assert.match((refused as Error).message, /sh-a\.db cannot take writes \(the disk is full, SQLITE_FULL\)/);
    // reads go on; what was acknowledged is there, what was refused is not
    const keys = async () => (await store.list('profiles', '', 100_000)).map((r) => r.key).sort();
    assert.deepEqual(await keys(), [...acked].sort());
    assert.equal(await store.lastSeq(), acked.length);
    // room again: writes go on, and everything survives a reopen
    rmSync(join(dir, 'filler'));
    await store.put({ resource: 'profiles', key: 'after', shard, epoch: 1, value: 1 });
    await store.close();
    store = new SqliteStore({ ...deps, file });
    assert.deepEqual(await keys(), [...acked, 'after'].sort());
  } finally {
    await store.close();
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
