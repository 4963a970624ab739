import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Agent } from 'undici';
import { systemClock } from '../core/clock.ts';
import { ExternalWorkload } from './external-workload.ts';

/** A stand-in for the routers: answers `GET /notes/<id>` with what `store` holds (JSON, like the notes app). */
async function withRouter(store: Map<string, string>, f: (url: string, d: Agent) => Promise<void>): Promise<void> {
  const server = createServer((req, res) => {
    const id = decodeURIComponent(req.url!.split('/').pop()!);
    const text = store.get(id);
    res.writeHead(text === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(text === undefined ? { error: 'no-such-note' } : { id, text }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const d = new Agent();
  try {
    await f(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, d);
  } finally {
    await d.close();
    server.close();
  }
}

test('external read-back: a write in flight when the last one was acknowledged may replace it; an earlier acknowledged one may not', async () => {
  const w = new ExternalWorkload('/notes', systemClock);
  const store = new Map<string, string>();
  // u1: #1 and #2 sent together, #2 acknowledged first, then #1 (the last acknowledgement); the app ran #2 last
  const a1 = w.next({ id: 'u1' }, true);
  const a2 = w.next({ id: 'u1' }, true);
  a2.done?.(200, '', 'sh-a');
  a1.done?.(200, '', 'sh-a');
  store.set('u1', a2.body!);
  // u2: #3 acknowledged, then #4 sent and acknowledged; the store holds #3 — #4 is lost
  const b1 = w.next({ id: 'u2' }, true);
  b1.done?.(201, '', 'sh-b');
  const b2 = w.next({ id: 'u2' }, true);
  b2.done?.(200, '', 'sh-b');
  store.set('u2', b1.body!);
  // u3: acknowledged, then a write that timed out (no answer) which landed: not lost
  const c1 = w.next({ id: 'u3' }, true);
  c1.done?.(200, '', 'bj-a');
  const c2 = w.next({ id: 'u3' }, true);
  c2.done?.(0, '');
  store.set('u3', c2.body!);
  // a user with an acknowledged write reads next, not writes
  assert.equal(w.next({ id: 'u3' }, false).method, 'GET');
  await withRouter(store, async (url, d) => {
    const rb = await w.readBack(url, d);
    assert.equal(rb.acknowledged, 3);
    assert.deepEqual(rb.acknowledgedBy, { 'sh-a': 1, 'sh-b': 1, 'bj-a': 1 });
    assert.equal(rb.found, 2);
    assert.equal(rb.missing, 1);
    assert.deepEqual(rb.missingBy, { 'sh-b': 1 });
    assert.equal(rb.examples[0]?.key, 'u2');
    assert.equal(rb.examples[0]?.want, b2.body);
  });
});

test('external read-back: writes not found yet are read again until the timeout (replication catching up)', async () => {
  const w = new ExternalWorkload('/notes', systemClock);
  const store = new Map<string, string>();
  const a = w.next({ id: 'u1' }, true);
  a.done?.(201, '', 'sh-a');
  // "#1" must not be taken for "#12": bodies are matched as whole JSON strings
  const b = w.next({ id: 'u2' }, true);
  b.done?.(201, '', 'sh-a');
  store.set('u2', `${b.body}2`);
  await withRouter(store, async (url, d) => {
    let reads = 0;
    const arrives = new Promise<void>((r) =>
      setTimeout(() => {
        store.set('u1', a.body!);
        store.set('u2', b.body!);
        reads++;
        r();
      }, 300),
    );
    const rb = await w.readBack(url, d, 10_000);
    await arrives;
    assert.equal(reads, 1);
    assert.equal(rb.found, 2);
    assert.equal(rb.missing, 0);
  });
});
