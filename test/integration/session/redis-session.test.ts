import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { RedisSessionStore } from '../../../src/session/index.ts';
import { startTcpProxy } from '../../support/tcp-proxy.ts';
import { reachable, redisUrl } from '../store/services.ts';
import { sessionContract } from './session.contract.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let run = 0;

sessionContract('redis', async () => {
  if (!(await reachable('redis'))) return null;
  // ids are unique per run: the machine's Redis is shared
  const prefix = `t${process.pid}x${run++}x${Math.floor(Math.random() * 1e9)}`;
  const store = await RedisSessionStore.open({ url: redisUrl(), prefix: 'mz:test:session:' });
  return { store, prefix, advance: sleep, cleanup: () => store.close() };
});

test('session(redis): an unreachable server fails open() with ERR_SESSION_UNAVAILABLE naming it, without hanging', async () => {
  // a port that was free a moment ago: nothing listens there
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const url = `redis://:secret@127.0.0.1:${port}`;
  await assert.rejects(RedisSessionStore.open({ url, connectTimeoutMs: 500 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_SESSION_UNAVAILABLE');
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    // the cause, not ioredis's "Connection is closed."
    assert.match(e.message, /ECONNREFUSED/);
    assert.doesNotMatch(e.message, /secret/, 'the password is not printed');
    return true;
  });
});

test('session(redis): a server that is not Redis fails open() with ERR_SESSION_UNAVAILABLE', async () => {
  const srv = createServer((s) => {
    s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  const port = await new Promise<number>((r) =>
    srv.listen(0, '127.0.0.1', () => r((srv.address() as { port: number }).port)),
  );
  try {
    await assert.rejects(
      RedisSessionStore.open({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500, commandTimeoutMs: 500 }),
      {
        code: 'ERR_SESSION_UNAVAILABLE',
      },
    );
  } finally {
    srv.close();
  }
});

test('session(redis): the TTL is Redis’s own (PTTL), so every process sharing the server agrees', async (t) => {
  if (!(await reachable('redis'))) return t.skip('no Redis');
  const store = await RedisSessionStore.open({ url: redisUrl(), prefix: 'mz:test:session:' });
  const { Redis } = await import('ioredis');
  const raw = new Redis(redisUrl());
  try {
    const id = `ttl${process.pid}x${Math.floor(Math.random() * 1e9)}`;
    await store.put(id, { u: 1 }, 50_000);
    const pttl = await raw.pttl(`mz:test:session:${id}`);
    assert.ok(pttl > 0 && pttl <= 50_000, `pttl ${pttl}`);
    await store.get(id, { slideMs: 90_000 });
    assert.ok((await raw.pttl(`mz:test:session:${id}`)) > 50_000, 'the sliding read extended it');
    await store.delete(id);
  } finally {
    raw.disconnect();
    await store.close();
  }
});

test('session(redis): while Redis is cut off calls fail at once with ERR_SESSION_UNAVAILABLE; after it heals they work again', async (t) => {
  if (!(await reachable('redis'))) return t.skip('no Redis');
  const u = new URL(redisUrl());
  const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 6379) });
  const store = await RedisSessionStore.open({ url: `redis://127.0.0.1:${proxy.port}`, prefix: 'mz:test:session:' });
  const id = `cut${process.pid}x${Math.floor(Math.random() * 1e9)}`;
  try {
    await store.put(id, { u: 1 }, 60_000);
    proxy.cut();
    await assert.rejects(store.get(id), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_SESSION_UNAVAILABLE');
      assert.match(e.message, /Redis GET at redis:\/\/127\.0\.0\.1:\d+/);
      return true;
    });
    await assert.rejects(store.put(id, { u: 2 }, 60_000), { code: 'ERR_SESSION_UNAVAILABLE' });
    proxy.heal();
    // ioredis reconnects in the background (retry at most every 2 s): bounded wait, no timing asserted
    let got: unknown;
    for (let i = 0; i < 100 && got === undefined; i++) {
      got = await store.get(id).catch(() => undefined);
      if (got === undefined) await sleep(100);
    }
    assert.deepEqual(got, { u: 1 }, 'the session written before the cut is there, the refused put changed nothing');
  } finally {
    await store.delete(id).catch(() => {});
    await store.close();
    await proxy.close();
  }
});
