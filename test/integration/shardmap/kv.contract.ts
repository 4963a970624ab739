/**
 * The one Kv contract suite; every adapter's test file calls kvContract with a factory.
 * (Not a *.test.ts file itself: the runner only picks up the adapters' files.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kv, KvEntry } from '../../../src/shardmap/index.ts';

/** Waits (bounded) until cond() holds, yielding to the event loop. */
async function until(cond: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds && !cond(); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

export function kvContract(name: string, open: () => Promise<{ kv: Kv; cleanup(): Promise<void> } | null>): void {
  describe(`kv contract: ${name}`, () => {
    let kv: Kv;
    let cleanup: (() => Promise<void>) | undefined;
    let skip = false;
    before(async () => {
      const o = await open();
      if (!o) {
        skip = true;
        return;
      }
      kv = o.kv;
      cleanup = o.cleanup;
    });
    after(async () => {
      await cleanup?.();
    });

    it(`kv(${name}): get of a missing key is null`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      assert.equal(await kv.get('missing.key'), null);
    });

    it(`kv(${name}): put returns growing revisions and get reads them back`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const r1 = await kv.put('a.one', 'x');
      const r2 = await kv.put('a.two', 'y');
      const r3 = await kv.put('a.one', 'z');
      assert.ok(r2 > r1 && r3 > r2);
      assert.deepEqual(await kv.get('a.one'), { key: 'a.one', value: 'z', revision: r3 });
    });

    it(`kv(${name}): expect 0 creates only when absent`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const r = await kv.put('cas.new', 'v1', { expect: 0 });
      assert.ok(r > 0);
      await assert.rejects(kv.put('cas.new', 'v2', { expect: 0 }), { code: 'ERR_FAILOVER_KV_CONFLICT' });
      assert.equal((await kv.get('cas.new'))?.value, 'v1');
    });

    it(`kv(${name}): expect n writes only at revision n`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const r1 = await kv.put('cas.upd', 'v1');
      const r2 = await kv.put('cas.upd', 'v2', { expect: r1 });
      await assert.rejects(kv.put('cas.upd', 'v3', { expect: r1 }), { code: 'ERR_FAILOVER_KV_CONFLICT' });
      assert.deepEqual(await kv.get('cas.upd'), { key: 'cas.upd', value: 'v2', revision: r2 });
    });

    it(`kv(${name}): delete removes; a deleted key can be created again`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const r = await kv.put('del.k', 'v');
      await assert.rejects(kv.delete('del.k', { expect: r + 1000 }), { code: 'ERR_FAILOVER_KV_CONFLICT' });
      await kv.delete('del.k', { expect: r });
      assert.equal(await kv.get('del.k'), null);
      await kv.delete('del.k');
      assert.ok((await kv.put('del.k', 'again', { expect: 0 })) > r);
    });

    it(`kv(${name}): keys lists live keys under a prefix, sorted`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await kv.put('ks.b', '1');
      await kv.put('ks.a', '1');
      await kv.put('ks.c', '1');
      await kv.put('other.a', '1');
      await kv.delete('ks.c');
      assert.deepEqual(await kv.keys('ks.'), ['ks.a', 'ks.b']);
    });

    it(`kv(${name}): watch sees later puts and deletes under its prefix, in order`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await kv.put('w.before', 'old');
      const seen: KvEntry[] = [];
      const w = await kv.watch('w.', (e) => seen.push(e));
      const r1 = await kv.put('w.x', '1');
      await kv.put('elsewhere.x', '1');
      const r2 = await kv.put('w.y', '2');
      await kv.delete('w.x');
      await until(() => seen.length >= 3);
      w.stop();
      assert.equal(seen.length, 3);
      assert.deepEqual(seen[0], { key: 'w.x', value: '1', revision: r1 });
      assert.deepEqual(seen[1], { key: 'w.y', value: '2', revision: r2 });
      assert.equal(seen[2]?.key, 'w.x');
      assert.equal(seen[2]?.value, null);
      assert.ok((seen[2]?.revision ?? 0) > r2);
    });

    it(`kv(${name}): a stopped watch hears nothing more`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const seen: KvEntry[] = [];
      const w = await kv.watch('ws.', (e) => seen.push(e));
      await kv.put('ws.a', '1');
      await until(() => seen.length >= 1);
      w.stop();
      await kv.put('ws.b', '2');
      const probe: KvEntry[] = [];
      const w2 = await kv.watch('ws.', (e) => probe.push(e));
      await kv.put('ws.c', '3');
      await until(() => probe.length >= 1);
      w2.stop();
      assert.deepEqual(
        seen.map((e) => e.key),
        ['ws.a'],
      );
    });

    it(`kv(${name}): bad keys are refused with a code`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await assert.rejects(kv.put('has space', 'v'), { code: 'ERR_FAILOVER_KV_BAD_KEY' });
      await assert.rejects(kv.put('a..b', 'v'), { code: 'ERR_FAILOVER_KV_BAD_KEY' });
      await assert.rejects(
        kv.watch('nodot', () => {}),
        { code: 'ERR_FAILOVER_KV_BAD_KEY' },
      );
    });

    it(`kv(${name}): concurrent CAS writers: exactly one wins`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const r = await kv.put('race.k', '0');
      const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((v) => kv.put('race.k', v, { expect: r })));
      assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1);
      for (const x of results)
        if (x.status === 'rejected') assert.equal((x.reason as { code: string }).code, 'ERR_FAILOVER_KV_CONFLICT');
    });
  });
}
