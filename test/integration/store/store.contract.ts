/**
 * The Store contract: every adapter runs this same suite (Hono's common.case.test.ts shape).
 * A factory opens a store for a zone over shared state (a folder or a database); `reopen`
 * opens the same zone again to prove durability.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type Clock, ManualClock } from '../../../src/core/clock.ts';
import { type Change, MemoryFence, resourcePolicies, type Store, type StoreDeps } from '../../../src/store/index.ts';
import { DIGEST_PAGE, DigestBuilder } from '../../../src/store/versions.ts';
import { parseTopology, type Topology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

/** 16 shards: sh-a 0-3, sh-b 4-7, bj-a 8-11, gz-a 12-15. */
export function storeTestTopology(): Topology {
  return parseTopology(
    testTopologyYaml({
      extra: `shards:
  count: 16
resources:
  accounts: { class: global, unique: true }
  profiles: { class: sharded }
  prefs: { class: sharded, conflict: owner-wins }
  tags: { class: sharded, conflict: 'merge:union' }
  sessions: { class: local, regenerable: true }
`,
    }),
    'store-test.yaml',
  );
}

/** Builds StoreDeps for a zone (shared fence so zones agree on owners). */
export function depsFor(
  zone: string,
  topology: Topology,
  fence: MemoryFence,
  clock: Clock = new ManualClock(),
): StoreDeps {
  return { zone, topology, fence, policies: resourcePolicies(topology, fence), clock };
}

export interface StoreFactory {
  /** Opens deps.zone's store at the location (file or schema) named by `where` (ns isolates tests). */
  open(deps: StoreDeps, where: { ns: string; zone: string }): Promise<Store>;
  /** Removes everything the factory created. */
  cleanup(): Promise<void>;
  /** Runs SQL on the store's own tables behind its back (a second connection), for white-box tests. */
  around?(store: Store, sql: string): Promise<void>;
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => {
    assert.equal(e.code, code);
    return true;
  });
}

/** Registers the whole contract for one adapter. */
export function storeContract(name: string, makeFactory: () => Promise<StoreFactory | undefined>): void {
  describe(`store contract: ${name}`, async () => {
    const factory = await makeFactory();
    if (!factory) return;
    const topology = storeTestTopology();
    const opened: Store[] = [];
    let n = 0;
    // each test gets fresh zone stores in its own namespace (file prefix or schema suffix)
    const open = async (zone: string, fence: MemoryFence, clock?: ManualClock) => {
      const s = await factory.open(depsFor(zone, topology, fence, clock), { ns: `t${n}`, zone });
      opened.push(s);
      return s;
    };
    const fresh = () => {
      n++;
      return new MemoryFence(topology.initialOwners());
    };
    after(async () => {
      for (const s of opened) await s.close();
      await factory.cleanup();
    });

    test(`${name}: a write reads back with shard, version, origin and no lock`, async () => {
      const a = await open('sh-a', fresh());
      const w = await a.put({ resource: 'profiles', key: 'u1', shard: 1, epoch: 1, value: { name: 'Ann' } });
      assert.equal(w.seq, 1);
      assert.equal(w.version, 1);
      const r = await a.get('profiles', 'u1');
      assert.deepEqual(r?.value, { name: 'Ann' });
      assert.equal(r?.shard, 1);
      assert.equal(r?.cls, 'sharded');
      assert.equal(r?.version, 1);
      assert.equal(r?.origin, 'sh-a');
      assert.equal(r?.locked, false);
      assert.equal(await a.get('profiles', 'nobody'), undefined);
    });

    test(`${name}: every accepted write appends to the change log in order`, async () => {
      const a = await open('sh-a', fresh());
      await a.put({ resource: 'profiles', key: 'u1', shard: 1, epoch: 1, value: 1 });
      await a.put({ resource: 'profiles', key: 'u1', shard: 1, epoch: 1, value: 2 });
      await a.put({ resource: 'accounts', key: '+8613800000000', shard: 0, epoch: 1, value: { uid: 'u1' } });
      const log = await a.changesAfter(0, 10);
      assert.deepEqual(
        log.map((c) => [c.seq, c.resource, c.key, c.version, c.value, c.epoch, c.origin]),
        [
          [1, 'profiles', 'u1', 1, 1, 1, 'sh-a'],
          [2, 'profiles', 'u1', 2, 2, 1, 'sh-a'],
          [3, 'accounts', '+8613800000000', 1, { uid: 'u1' }, 1, 'sh-a'],
        ],
      );
      assert.equal(await a.lastSeq(), 3);
      assert.equal((await a.changesAfter(2, 10)).length, 1);
      assert.equal(typeof (await a.timeOf(1)), 'number');
    });

    test(`${name}: marking changes shipped keeps every one of them readable, and the next ones follow on`, async () => {
      const a = await open('sh-a', fresh());
      for (let i = 1; i <= 5; i++) await a.put({ resource: 'profiles', key: `u${i}`, shard: 1, epoch: 1, value: i });
      await a.markShipped(4);
      await a.put({ resource: 'profiles', key: 'u6', shard: 1, epoch: 1, value: 6 });
      const all = (await a.changesAfter(0, 10)).map((c) => [c.seq, c.value]);
      assert.deepEqual(
        all,
        [1, 2, 3, 4, 5, 6].map((i) => [i, i]),
      );
      assert.deepEqual(
        (await a.changesAfter(4, 10)).map((c) => c.seq),
        [5, 6],
      );
      assert.deepEqual(
        (await a.changesAfter(2, 2)).map((c) => c.seq),
        [3, 4],
      );
      assert.equal(await a.shipped(), 4);
    });

    test(`${name}: the fence refuses a non-owner and a stale epoch, and logs nothing`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      await rejects(a.put({ resource: 'profiles', key: 'u', shard: 5, epoch: 1, value: 1 }), 'ERR_STORE_NOT_OWNER');
      await rejects(a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 2, value: 1 }), 'ERR_STORE_STALE_EPOCH');
      fence.move(1, 'sh-b');
      await rejects(a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 1, value: 1 }), 'ERR_STORE_NOT_OWNER');
      const b = await open('sh-b', fence);
      await rejects(b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 1, value: 1 }), 'ERR_STORE_STALE_EPOCH');
      await b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 2, value: 1 });
      await rejects(a.put({ resource: 'profiles', key: 'u', shard: 99, epoch: 1 }), 'ERR_STORE_BAD_SHARD');
      assert.equal(await a.lastSeq(), 0);
      assert.equal(await b.lastSeq(), 1);
    });

    test(`${name}: global resources are written only in the core zone; local ones skip the fence`, async () => {
      const fence = fresh();
      const b = await open('sh-b', fence);
      await rejects(b.put({ resource: 'accounts', key: 'p', shard: 5, epoch: 1, value: 1 }), 'ERR_STORE_NOT_CORE');
      await b.put({ resource: 'sessions', key: 'sh-b.x', shard: 0, epoch: 0, value: { uid: 'u' } });
      assert.equal((await b.get('sessions', 'sh-b.x'))?.cls, 'local');
      await rejects(b.put({ resource: 'nope', key: 'k', shard: 5, epoch: 1 }), 'ERR_STORE_UNKNOWN_RESOURCE');
    });

    test(`${name}: ifVersion guards a read-modify-write; putMany is all or nothing`, async () => {
      const a = await open('sh-a', fresh());
      await a.put({ resource: 'profiles', key: 'k', shard: 0, epoch: 1, value: 1, ifVersion: 0 });
      await rejects(
        a.put({ resource: 'profiles', key: 'k', shard: 0, epoch: 1, value: 2, ifVersion: 0 }),
        'ERR_STORE_VERSION_MISMATCH',
      );
      await a.put({ resource: 'profiles', key: 'k', shard: 0, epoch: 1, value: 2, ifVersion: 1 });
      await rejects(
        a.putMany([
          { resource: 'profiles', key: 'm1', shard: 0, epoch: 1, value: 1 },
          { resource: 'profiles', key: 'm2', shard: 9, epoch: 1, value: 1 },
        ]),
        'ERR_STORE_NOT_OWNER',
      );
      assert.equal(await a.get('profiles', 'm1'), undefined);
      assert.equal(await a.lastSeq(), 2);
      const rs = await a.putMany([
        { resource: 'profiles', key: 'm1', shard: 0, epoch: 1, value: 1 },
        { resource: 'profiles', key: 'm1', shard: 0, epoch: 1, value: 2 },
      ]);
      assert.deepEqual(
        rs.map((r) => [r.seq, r.version]),
        [
          [3, 1],
          [4, 2],
        ],
      );
      assert.equal((await a.get('profiles', 'm1'))?.value, 2);
    });

    test(`${name}: apply is exactly once per origin and seq, and the cursor survives a reopen`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      await a.put({ resource: 'profiles', key: 'u1', shard: 1, epoch: 1, value: 'x' });
      await a.put({ resource: 'profiles', key: 'u2', shard: 2, epoch: 1, value: 'y' });
      const batch = await a.changesAfter(0, 10);
      const b = await open('sh-b', fence);
      const r1 = await b.apply('sh-a', batch);
      assert.equal(r1.applied, 2);
      assert.equal(r1.cursor, 2);
      const r2 = await b.apply('sh-a', batch);
      assert.equal(r2.applied, 0);
      assert.equal(r2.duplicates, 2);
      assert.equal((await b.get('profiles', 'u1'))?.origin, 'sh-a');
      // an applied change is not a local write: it never enters b's own change log (no loops)
      assert.equal(await b.lastSeq(), 0);
      await b.close();
      const b2 = await open('sh-b', fence);
      assert.equal(await b2.cursor('sh-a'), 2);
      assert.deepEqual(await b2.cursors(), { 'sh-a': 2 });
      assert.equal((await b2.apply('sh-a', batch)).duplicates, 2);
    });

    test(`${name}: a store file or schema refuses to open as another zone`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      await a.close();
      await rejects(
        factory.open(depsFor('sh-b', topology, fence), { ns: `t${n}`, zone: 'sh-a' }),
        'ERR_STORE_ZONE_MISMATCH',
      );
    });

    test(`${name}: a newer version applies, an older one is stale, concurrent ones lock the record`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      await a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 1, value: 'a1' });
      await b.apply('sh-a', await a.changesAfter(0, 10));
      // shard 1 moves to sh-b; sh-b writes on top of a1 → descends from it
      fence.move(1, 'sh-b');
      await b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 2, value: 'b1' });
      const r = await a.apply('sh-b', await b.changesAfter(0, 10));
      assert.equal(r.applied, 1);
      assert.equal((await a.get('profiles', 'u'))?.value, 'b1');
      // replaying sh-a's old a1 into sh-b under another cursor name: stale
      const stale = await a.changesAfter(0, 1);
      const c = await open('gz-a', fence);
      await c.apply('sh-b', await b.changesAfter(0, 10));
      assert.equal((await c.apply('sh-a', stale)).stale, 1);
      assert.equal((await c.get('profiles', 'u'))?.value, 'b1');

      // concurrent: both zones write on top of b1 (an available-mode split)
      fence.move(1, 'sh-a');
      await a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 3, value: 'a2' });
      fence.move(1, 'sh-b');
      await b.apply('sh-a', []);
      await b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 4, value: 'b2' });
      const ra = await a.apply('sh-b', await b.changesAfter(1, 10));
      const rb = await b.apply('sh-a', await a.changesAfter(1, 10));
      assert.equal(ra.conflicts, 1);
      assert.equal(rb.conflicts, 1);
      for (const s of [a, b]) {
        const v = await s.get('profiles', 'u');
        assert.equal(v?.locked, true);
        assert.deepEqual(v?.candidates.map((x) => [x.origin, x.value]).sort(), [
          ['sh-a', 'a2'],
          ['sh-b', 'b2'],
        ]);
        const cs = await s.conflicts();
        assert.deepEqual(
          cs.map((x) => x.id),
          ['profiles/u'],
        );
      }
      await rejects(b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 4, value: 'b3' }), 'ERR_STORE_LOCKED');
      assert.deepEqual(await a.digests(), await b.digests());
    });

    test(`${name}: resolving a conflict writes a version that unlocks it everywhere`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      await a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 1, value: 'a1' });
      fence.move(1, 'sh-b');
      await b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 2, value: 'b1' });
      await a.apply('sh-b', await b.changesAfter(0, 10));
      await b.apply('sh-a', await a.changesAfter(0, 10));
      await rejects(b.resolve('profiles/u', 'gz-a'), 'ERR_STORE_CONFLICT_PICK');
      await rejects(b.resolve('profiles/none', 'sh-a'), 'ERR_STORE_CONFLICT_UNKNOWN');
      const w = await b.resolve('profiles/u', 'sh-a');
      const v = await b.get('profiles', 'u');
      assert.equal(v?.locked, false);
      assert.equal(v?.value, 'a1');
      assert.equal(w.version, 3);
      assert.deepEqual(await b.conflicts(), []);
      const r = await a.apply('sh-b', await b.changesAfter(1, 10));
      assert.equal(r.applied, 1);
      assert.equal((await a.get('profiles', 'u'))?.locked, false);
      assert.equal((await a.get('profiles', 'u'))?.value, 'a1');
      assert.deepEqual(await a.conflicts(), []);
    });

    test(`${name}: owner-wins and merge settle concurrent writes without a lock`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      await a.put({ resource: 'prefs', key: 'p', shard: 1, epoch: 1, value: 'from-a' });
      await a.put({ resource: 'tags', key: 't', shard: 1, epoch: 1, value: ['x', 'y'] });
      fence.move(1, 'sh-b');
      await b.put({ resource: 'prefs', key: 'p', shard: 1, epoch: 2, value: 'from-b' });
      await b.put({ resource: 'tags', key: 't', shard: 1, epoch: 2, value: ['y', 'z'] });
      const ra = await a.apply('sh-b', await b.changesAfter(0, 10));
      const rb = await b.apply('sh-a', await a.changesAfter(0, 10));
      assert.equal(ra.settled, 2);
      assert.equal(rb.settled, 2);
      for (const s of [a, b]) {
        assert.equal((await s.get('prefs', 'p'))?.value, 'from-b'); // sh-b owns shard 1 now
        assert.deepEqual((await s.get('tags', 't'))?.value, ['x', 'y', 'z']);
        assert.equal((await s.get('tags', 't'))?.locked, false);
      }
      assert.deepEqual(await a.digests(), await b.digests());
    });

    test(`${name}: deletes replicate as tombstones`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      await a.put({ resource: 'profiles', key: 'd', shard: 0, epoch: 1, value: 1 });
      await a.put({ resource: 'profiles', key: 'd', shard: 0, epoch: 1, delete: true });
      assert.equal(await a.get('profiles', 'd'), undefined);
      await b.apply('sh-a', await a.changesAfter(0, 1));
      assert.equal((await b.get('profiles', 'd'))?.value, 1);
      await b.apply('sh-a', await a.changesAfter(1, 1));
      assert.equal(await b.get('profiles', 'd'), undefined);
    });

    test(`${name}: digests differ where zones differ and repair converges them`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      await a.put({ resource: 'profiles', key: 'r1', shard: 2, epoch: 1, value: 1 });
      await a.put({ resource: 'profiles', key: 'r2', shard: 3, epoch: 1, value: 2 });
      await a.put({ resource: 'sessions', key: 'sh-a.s', shard: 3, epoch: 0, value: 's' });
      await b.put({ resource: 'profiles', key: 'r3', shard: 4, epoch: 1, value: 3 });
      const da = await a.digests();
      const db = await b.digests();
      assert.deepEqual([...da.keys()].sort(), [2, 3]);
      assert.notEqual(da.get(4), db.get(4));
      for (const shard of new Set([...da.keys(), ...db.keys()])) {
        if (da.get(shard) === db.get(shard)) continue;
        const [ra, rb] = [await a.shardRecords(shard), await b.shardRecords(shard)];
        await a.repair(rb);
        await b.repair(ra);
      }
      assert.deepEqual(await a.digests(), await b.digests());
      assert.equal((await b.get('profiles', 'r2'))?.value, 2);
      assert.equal(await b.get('sessions', 'sh-a.s'), undefined); // local records never leave their zone
      assert.equal(await a.repair(await b.shardRecords(4)), 0);
    });

    test(`${name}: digests read a shard at a time, leaving the event loop free between shards`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      for (const shard of [0, 2, 3])
        await a.put({ resource: 'profiles', key: `p${shard}`, shard, epoch: 1, value: shard });
      await a.put({ resource: 'sessions', key: 'sh-a.s', shard: 1, epoch: 0, value: 's' });
      let turns = 0;
      const tick = () => {
        turns++;
        if (turns < 1000) setImmediate(tick);
      };
      setImmediate(tick);
      const d = await a.digests();
      const during = turns;
      turns = 1000;
      // shards with replicated records only: shard 1 holds a local record alone
      assert.deepEqual([...d.keys()], [0, 2, 3]);
      // other work ran while the digests were read (one pass over the table did not let it)
      assert.ok(during >= 2, `the event loop ran ${during} times during digests()`);
      // a change to one shard changes that shard's digest alone
      await a.put({ resource: 'profiles', key: 'p2', shard: 2, epoch: 1, value: 'x' });
      const e = await a.digests();
      assert.equal(e.get(0), d.get(0));
      assert.notEqual(e.get(2), d.get(2));
      assert.equal(e.get(3), d.get(3));
    });

    test(`${name}: digests are kept while the store is unchanged, and follow each write, apply, lock, resolve and repair`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      // what the digests must be: every replicated record hashed afresh
      const truth = async (s: Store) => {
        const w = new DigestBuilder();
        for (let shard = 0; shard < 16; shard++) for (const st of await s.shardRecords(shard)) w.add(st);
        return w.finish();
      };
      const check = async (s: Store, after: string) =>
        assert.deepEqual(await s.digests(), await truth(s), `${s.zone} after ${after}`);
      await check(b, 'nothing');
      await a.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 1, value: 'a1' });
      await a.put({ resource: 'profiles', key: 'v', shard: 2, epoch: 1, value: 'v1' });
      await check(a, 'its writes');
      await check(a, 'nothing more');
      fence.move(1, 'sh-b');
      await b.put({ resource: 'profiles', key: 'u', shard: 1, epoch: 2, value: 'b1' });
      await check(b, 'a local write');
      const r = await b.apply('sh-a', await a.changesAfter(0, 10));
      assert.equal(r.conflicts, 1);
      await check(b, 'an apply that locked a record');
      await b.resolve('profiles/u', 'sh-a');
      await check(b, 'a resolve');
      await a.put({ resource: 'profiles', key: 'w', shard: 3, epoch: 1, value: 'w1' });
      assert.equal(await b.repair(await a.shardRecords(3)), 1);
      await check(b, 'a repair');
      assert.equal(await b.repair(await a.shardRecords(3)), 0);
      await check(b, 'a repair that changed nothing');
      if (!factory.around) return;
      // kept: a change made behind the store's back is not seen until the stamp moves
      const before = await b.digests();
      await factory.around(b, `UPDATE records SET value = '"behind"' WHERE key = 'v'`);
      assert.deepEqual(await b.digests(), before);
      assert.notDeepEqual(await truth(b), before);
      await b.put({ resource: 'profiles', key: 'x', shard: 5, epoch: 1, value: 'x1' });
      await check(b, 'the next write');
    });

    test(`${name}: digests page through a shard larger than a page: the digest of the shard read whole`, async () => {
      const a = await open('sh-a', fresh());
      // two resources in one shard, keys whose byte order differs from their numeric order,
      // and local records among them (left out of digests), across more than two pages
      const n = DIGEST_PAGE * 2 + 37;
      for (let i = 0; i < n; i += 250) {
        const reqs = [];
        for (let j = i; j < Math.min(n, i + 250); j++)
          reqs.push({ resource: j % 3 ? 'profiles' : 'prefs', key: `k${j}`, shard: 1, epoch: 1, value: { j } });
        await a.putMany(reqs);
      }
      await a.put({ resource: 'sessions', key: 'sh-a.k1000', shard: 1, epoch: 0, value: 's' });
      await a.put({ resource: 'profiles', key: 'other', shard: 2, epoch: 1, value: 0 });
      const whole = new DigestBuilder();
      for (const shard of [1, 2]) for (const st of await a.shardRecords(shard)) whole.add(st);
      assert.equal((await a.shardRecords(1)).length, n);
      assert.deepEqual(await a.digests(), whole.finish());
    });

    test(`${name}: lists a resource's records by key prefix, in key order`, async () => {
      const a = await open('sh-a', fresh());
      for (const k of ['u1/c2', 'u1/c1', 'u10/c1', 'u2/c1', 'u1/c3'])
        await a.put({ resource: 'profiles', key: k, shard: 0, epoch: 1, value: k });
      await a.put({ resource: 'profiles', key: 'u1/c3', shard: 0, epoch: 1, delete: true });
      await a.put({ resource: 'prefs', key: 'u1/x', shard: 0, epoch: 1, value: 1 });
      assert.deepEqual(
        (await a.list('profiles', 'u1/')).map((r) => r.key),
        ['u1/c1', 'u1/c2'],
      );
      assert.deepEqual(
        (await a.list('profiles', 'u1', 2)).map((r) => r.key),
        ['u1/c1', 'u1/c2'],
      );
      assert.equal((await a.list('profiles', 'u1')).length, 3);
    });

    test(`${name}: pruning the change log keeps the newest entry, so sequence numbers never restart`, async () => {
      const a = await open('sh-a', fresh());
      for (let i = 0; i < 5; i++) await a.put({ resource: 'profiles', key: `p${i}`, shard: 0, epoch: 1, value: i });
      assert.equal(await a.pruneChanges(3), 3);
      assert.deepEqual(
        (await a.changesAfter(0, 10)).map((c) => c.seq),
        [4, 5],
      );
      await a.pruneChanges(100);
      assert.equal(await a.lastSeq(), 5);
      assert.equal((await a.put({ resource: 'profiles', key: 'p9', shard: 0, epoch: 1, value: 9 })).seq, 6);
    });

    test(`${name}: marks what was shipped`, async () => {
      const a = await open('sh-a', fresh());
      assert.equal(await a.shipped(), 0);
      await a.markShipped(7);
      assert.equal(await a.shipped(), 7);
    });

    test(`${name}: a batch that straddles a restart applies only its unapplied tail, once`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      for (let i = 0; i < 10; i++) await a.put({ resource: 'profiles', key: `s${i}`, shard: 1, epoch: 1, value: i });
      const all = await a.changesAfter(0, 100);
      const b = await open('sh-b', fence);
      // the first half was applied (cursor 5 in the same transaction), then the zone restarted
      assert.equal((await b.apply('sh-a', all.slice(0, 5), 5)).cursor, 5);
      await b.close();
      const b2 = await open('sh-b', fence);
      // the log redelivers a batch covering 1..10 (its boundaries differ from what was applied)
      const r = await b2.apply('sh-a', all, 10);
      assert.deepEqual([r.applied, r.duplicates, r.cursor], [5, 5, 10]);
      for (let i = 0; i < 10; i++) assert.equal((await b2.get('profiles', `s${i}`))?.version, 1);
      // and once more, after another reopen: nothing is applied twice
      await b2.close();
      const b3 = await open('sh-b', fence);
      const again = await b3.apply('sh-a', all, 10);
      assert.deepEqual([again.applied, again.duplicates, again.cursor], [0, 10, 10]);
      assert.equal(await b3.lastSeq(), 0);
    });

    test(`${name}: a redelivered batch is applied once, and upTo moves the cursor past seqs the batch left out`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      await a.put({ resource: 'profiles', key: 'r1', shard: 1, epoch: 1, value: 1 });
      await a.put({ resource: 'sessions', key: 'local', shard: 1, epoch: 1, value: 'x' });
      await a.put({ resource: 'profiles', key: 'r1', shard: 1, epoch: 1, value: 2 });
      // the shipper leaves local-class changes out but the batch still covers seqs 1..3
      const shipped = (await a.changesAfter(0, 10)).filter((c) => c.cls !== 'local');
      const b = await open('sh-b', fence);
      const first = await b.apply('sh-a', shipped, 3);
      assert.deepEqual([first.applied, first.cursor], [2, 3]);
      const second = await b.apply('sh-a', shipped, 3);
      assert.deepEqual([second.applied, second.duplicates, second.cursor], [0, 2, 3]);
      assert.equal((await b.get('profiles', 'r1'))?.value, 2);
      assert.equal(await b.get('sessions', 'local'), undefined);
    });

    test(`${name}: a value over store.maxValueBytes is refused and never reaches the change log`, async () => {
      const a = await open('sh-a', fresh());
      const limit = topology.config.store.maxValueBytes;
      // at the limit: value JSON (the string and its two quotes) plus the key "ok"
      await a.put({ resource: 'profiles', key: 'ok', shard: 1, epoch: 1, value: 'x'.repeat(limit - 4) });
      const last = await a.lastSeq();
      // "é" is two bytes in UTF-8: counted in bytes, this is over the limit though its length is not
      const over = 'é'.repeat(limit / 2);
      await rejects(
        a.put({ resource: 'profiles', key: 'big', shard: 1, epoch: 1, value: over }),
        'ERR_STORE_TOO_LARGE',
      );
      // one refused request fails its whole putMany: nothing of it is written
      await rejects(
        a.putMany([
          { resource: 'profiles', key: 'small', shard: 1, epoch: 1, value: 1 },
          { resource: 'profiles', key: 'big', shard: 1, epoch: 1, value: { text: over } },
        ]),
        'ERR_STORE_TOO_LARGE',
      );
      await rejects(
        a.put({ resource: 'profiles', key: 'n', shard: 1, epoch: 1, value: { n: 1n } }),
        'ERR_STORE_BAD_VALUE',
      );
      assert.equal(await a.lastSeq(), last);
      assert.equal(await a.get('profiles', 'small'), undefined);
      assert.equal(await a.get('profiles', 'big'), undefined);
      assert.equal((await a.get('profiles', 'ok'))?.value, 'x'.repeat(limit - 4));
    });

    test(`${name}: a large batch applies in one transaction`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const big = 'x'.repeat(4000);
      await a.putMany(
        Array.from({ length: 300 }, (_, i) => ({
          resource: 'profiles',
          key: `b${i}`,
          shard: i % 4,
          epoch: 1,
          value: { big, i },
        })),
      );
      const all = await a.changesAfter(0, 1000);
      assert.equal(all.length, 300);
      const b = await open('sh-b', fence);
      const r = await b.apply('sh-a', all, 300);
      assert.deepEqual([r.applied, r.cursor], [300, 300]);
      assert.deepEqual((await b.get('profiles', 'b299'))?.value, { big, i: 299 });
    });

    test(`${name}: concurrent puts commit together, and a refused one fails only its own call`, async () => {
      const a = await open('sh-a', fresh());
      const calls = [
        a.put({ resource: 'profiles', key: 'g1', shard: 0, epoch: 1, value: 1 }),
        a.putMany([
          { resource: 'profiles', key: 'g2', shard: 1, epoch: 1, value: 2 },
          { resource: 'profiles', key: 'g3', shard: 9, epoch: 1, value: 3 },
        ]),
        a.put({ resource: 'profiles', key: 'g4', shard: 2, epoch: 1, value: 4 }),
      ];
      const [r1, r2, r3] = (await Promise.allSettled(calls)) as [
        PromiseSettledResult<unknown>,
        PromiseSettledResult<unknown>,
        PromiseSettledResult<unknown>,
      ];
      assert.equal(r1.status, 'fulfilled');
      assert.equal(r2.status, 'rejected');
      assert.equal((r2 as PromiseRejectedResult).reason.code, 'ERR_STORE_NOT_OWNER');
      assert.equal(r3.status, 'fulfilled');
      // all or nothing per call: g2 went with its refused sibling; seqs stay gapless
      assert.equal(await a.get('profiles', 'g2'), undefined);
      const log = await a.changesAfter(0, 10);
      assert.deepEqual(
        log.map((c) => [c.seq, c.key]),
        [
          [1, 'g1'],
          [2, 'g4'],
        ],
      );
    });

    test(`${name}: a batch with a change for the same key twice applies in seq order`, async () => {
      const fence = fresh();
      const a = await open('sh-a', fence);
      const b = await open('sh-b', fence);
      for (let i = 0; i < 5; i++) await a.put({ resource: 'profiles', key: 'same', shard: 0, epoch: 1, value: i });
      const batch: Change[] = await a.changesAfter(0, 10);
      await b.apply('sh-a', batch);
      assert.equal((await b.get('profiles', 'same'))?.value, 4);
      assert.equal((await b.get('profiles', 'same'))?.version, 5);
    });
  });
}
