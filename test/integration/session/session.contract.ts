/**
 * The one SessionStore contract suite; every adapter's test file calls sessionContract.
 * `advance(ms)` moves the store's time on: the in-process store's ManualClock, or real time
 * for Redis (its expiry runs on the server's clock). (Not a *.test.ts file itself.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SessionStore } from '../../../src/session/index.ts';

export interface SessionFixture {
  store: SessionStore;
  advance(ms: number): Promise<void>;
  /** A unique id prefix per run (Redis is shared between test runs). */
  prefix: string;
  cleanup(): Promise<void>;
}

export function sessionContract(name: string, open: () => Promise<SessionFixture | null>): void {
  describe(`session contract: ${name}`, () => {
    let f: SessionFixture;
    let skip = false;
    before(async () => {
      const o = await open();
      if (!o) skip = true;
      else f = o;
    });
    after(async () => {
      await f?.cleanup();
    });
    const id = (s: string) => `${f.prefix}.${s}`;

    it(`session(${name}): a stored value reads back as a copy; absent ids read undefined`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const v = { userId: 'u42', roles: ['a', 'b'], n: 1.5, nested: { ok: true } };
      await f.store.put(id('a'), v, 60_000);
      const got = (await f.store.get(id('a'))) as typeof v;
      assert.deepEqual(got, v);
      got.roles.push('mutated');
      assert.deepEqual(await f.store.get(id('a')), v, 'the stored value is not the returned object');
      assert.equal(await f.store.get(id('missing')), undefined);
    });

    it(`session(${name}): put replaces; delete says whether there was one`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await f.store.put(id('r'), 'one', 60_000);
      await f.store.put(id('r'), 'two', 60_000);
      assert.equal(await f.store.get(id('r')), 'two');
      assert.equal(await f.store.delete(id('r')), true);
      assert.equal(await f.store.delete(id('r')), false);
      assert.equal(await f.store.get(id('r')), undefined);
    });

    it(`session(${name}): a session expires after its TTL`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await f.store.put(id('e'), { x: 1 }, 300);
      await f.store.put(id('keep'), { x: 2 }, 60_000);
      assert.deepEqual(await f.store.get(id('e')), { x: 1 });
      await f.advance(450);
      assert.equal(await f.store.get(id('e')), undefined);
      assert.equal(await f.store.delete(id('e')), false, 'an expired session is not there to delete');
      assert.deepEqual(await f.store.get(id('keep')), { x: 2 });
    });

    it(`session(${name}): a sliding read restarts the expiry`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      await f.store.put(id('s'), 'v', 400);
      await f.advance(250);
      assert.equal(await f.store.get(id('s'), { slideMs: 400 }), 'v');
      await f.advance(250); // 500 ms after put: alive only because the read slid it
      assert.equal(await f.store.get(id('s')), 'v');
      await f.advance(300); // a plain read does not slide
      assert.equal(await f.store.get(id('s')), undefined);
    });

    it(`session(${name}): bad ids, TTLs and values are refused with ERR_SESSION_BAD_INPUT`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const bad = { code: 'ERR_SESSION_BAD_INPUT' };
      await assert.rejects(f.store.put('', 'v', 1000), bad);
      await assert.rejects(f.store.put('has space', 'v', 1000), bad);
      await assert.rejects(f.store.put(`${f.prefix}.${'x'.repeat(200)}`, 'v', 1000), bad);
      await assert.rejects(f.store.get('a/b'), bad);
      await assert.rejects(f.store.delete('a*'), bad);
      await assert.rejects(f.store.put(id('t'), 'v', 0), bad);
      await assert.rejects(f.store.put(id('t'), 'v', 1.5), bad);
      await assert.rejects(f.store.get(id('t'), { slideMs: -1 }), bad);
      await assert.rejects(f.store.put(id('t'), undefined, 1000), bad);
      assert.equal(await f.store.get(id('t')), undefined, 'nothing was stored by a refused put');
    });

    it(`session(${name}): values survive byte for byte, unicode included`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const v = { name: '张三 🚀', quote: 'a"b\\c', big: 'x'.repeat(100_000) };
      await f.store.put(id('u'), v, 60_000);
      assert.deepEqual(await f.store.get(id('u')), v);
    });

    it(`session(${name}): used after close, it says so`, async (t) => {
      if (skip) return t.skip('adapter unavailable');
      const extra = await open();
      assert.ok(extra);
      await extra.store.close();
      await assert.rejects(extra.store.get(id('a')), { code: 'ERR_SESSION_CLOSED' });
      await extra.cleanup();
    });
  });
}
