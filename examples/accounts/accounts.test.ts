import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { systemClock } from '../../src/core/clock.ts';
import { fnv1a, seededRandom } from '../../src/core/random.ts';
import { MemoryLog, Replication } from '../../src/replication/index.ts';
import { MemorySessionStore, RedisSessionStore, type SessionStore } from '../../src/session/index.ts';
import { MemoryFence, resourcePolicies, SqliteStore, type Store } from '../../src/store/index.ts';
import { parseTopology } from '../../src/topology/index.ts';
import { RequestSigner } from '../../src/trust/index.ts';
import { reachable, redisUrl } from '../../test/integration/store/services.ts';
import { testTopologyYaml } from '../../test/support/net.ts';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.ts';
import { type AccountsApp, startAccountsApp } from './app.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const topology = parseTopology(
  testTopologyYaml({
    extra: `shards:
  count: 16
resources:
  accounts: { class: global, unique: true }
  profiles: { class: sharded }
  comments: { class: sharded }
  sessions: { class: local, regenerable: true, lossTolerant: true }
store:
  maxValueBytes: 8192
`,
  }),
  'accounts-test.yaml',
);
const fence = new MemoryFence(topology.initialOwners());
let dir: string;
let repl: Replication;
let log: MemoryLog;
const stores = new Map<string, Store>();
const apps = new Map<string, AccountsApp>();
/** sh-a keeps its sessions in the machine's Redis (through a cuttable proxy) when there is one; the others in process. */
const sessionStores = new Map<string, SessionStore>();
let redisProxy: TcpProxy | undefined;
const url = (z: string) => `http://127.0.0.1:${apps.get(z)!.port}`;
const signer = new RequestSigner({ secret: Buffer.alloc(32, 9), zone: 'cluster', clock: systemClock });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mz-accounts-'));
  const policies = resourcePolicies(topology, fence);
  for (const zone of ZONES)
    stores.set(
      zone,
      new SqliteStore({ zone, topology, fence, policies, clock: systemClock, file: join(dir, `${zone}.db`) }),
    );
  log = new MemoryLog({ clock: systemClock, random: seededRandom(1), wan: { delayMs: 20 } });
  repl = new Replication({ topology, stores, log, clock: systemClock, pollMs: 10 });
  await repl.start();
  if (await reachable('redis')) {
    const u = new URL(redisUrl());
    redisProxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 6379) });
    const prefix = `mz:test:${process.pid}:${Math.floor(Math.random() * 1e9)}:`;
    sessionStores.set('sh-a', await RedisSessionStore.open({ url: `redis://127.0.0.1:${redisProxy.port}`, prefix }));
  }
  for (const zone of ZONES) if (!sessionStores.has(zone)) sessionStores.set(zone, new MemorySessionStore(systemClock));
  for (const zone of ZONES)
    apps.set(
      zone,
      await startAccountsApp({
        zone,
        topology,
        store: repl.storeFor(zone),
        sessions: sessionStores.get(zone),
        clock: systemClock,
        host: '127.0.0.1',
        port: 0,
        scryptN: 1024,
        epochOf: (s) => fence.epoch(s),
        peer: (z) => (apps.has(z) ? url(z) : undefined),
        signer: signer.as(zone),
      }),
    );
});

after(async () => {
  for (const a of apps.values()) await a.close();
  await repl.stop();
  await log.close();
  for (const s of stores.values()) await s.close();
  for (const s of sessionStores.values()) await s.close();
  await redisProxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(
  zone: string,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }> {
  const r = await request(`${url(zone)}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown>, headers: r.headers };
}

async function eventually(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await fn()) return;
    await systemClock.sleep(10);
  }
  assert.fail('timed out');
}

test('accounts: registration is written only in the core zone; one phone number, one account', async () => {
  const r = await call('bj-a', 'POST', '/api/register', { phone: '+8613800000001', password: 'secret1', name: 'Li' });
  assert.equal(r.status, 201);
  assert.equal(r.json.zone, 'sh-a');
  assert.equal(r.headers['x-accounts-written-in'], 'sh-a');
  const again = await call('gz-a', 'POST', '/api/register', { phone: '+8613800000001', password: 'other12' });
  assert.equal(again.status, 409);
  assert.equal(again.json.error, 'ERR_ACCOUNTS_PHONE_TAKEN');
  assert.equal(await stores.get('bj-a')!.lastSeq(), 0, 'bj-a wrote nothing itself');
});

test('accounts: login works in any zone, reading the core zone when the replica has not caught up', async () => {
  // gz-a's replica cannot have caught up: its link from the core zone is cut
  log.cut('sh-a', 'gz-a');
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000002', password: 'secret2', name: 'Wang' });
  assert.equal(await stores.get('gz-a')!.get('accounts', '+8613800000002'), undefined);
  const early = await call('gz-a', 'POST', '/api/login', { phone: '+8613800000002', password: 'secret2' });
  assert.equal(early.status, 200);
  assert.equal(early.json.secondRead, true);
  assert.match(String(early.json.session), /^gz-a\./);
  assert.match(String(early.headers['set-cookie']), /mz_sid=gz-a\./);
  const wrong = await call('gz-a', 'POST', '/api/login', { phone: '+8613800000002', password: 'nope!!' });
  assert.equal(wrong.status, 401);
  log.heal('sh-a', 'gz-a');
  await eventually(async () => (await stores.get('gz-a')!.get('accounts', '+8613800000002')) !== undefined);
  const later = await call('gz-a', 'POST', '/api/login', { phone: '+8613800000002', password: 'secret2' });
  assert.equal(later.json.secondRead, false);
});

test('accounts: sessions stay in their zone and other zones fetch them from it', async () => {
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000003', password: 'secret3' });
  const login = await call('sh-a', 'POST', '/api/login', { phone: '+8613800000003', password: 'secret3' });
  const sid = String(login.json.session);
  assert.match(sid, /^sh-a\./, 'the id names its zone');
  assert.equal(((await sessionStores.get('sh-a')!.get(sid)) as { userId: string }).userId, login.json.userId);
  for (const z of ['sh-b', 'bj-a', 'gz-a']) assert.equal(await sessionStores.get(z)!.get(sid), undefined, z);
  for (const z of ZONES)
    assert.equal(await stores.get(z)!.get('sessions', sid), undefined, `${z}: never in a zone store`);
  const fetched = await call('bj-a', 'GET', `/api/sessions/${encodeURIComponent(sid)}`);
  assert.equal(fetched.status, 200);
  assert.equal(fetched.json.userId, login.json.userId);
  assert.equal((await call('bj-a', 'GET', '/api/sessions/sh-a.nope')).status, 404);
  assert.equal((await call('bj-a', 'GET', `/api/sessions/${encodeURIComponent('sh-a.x y')}`)).status, 404);
});

test('accounts: with the session zone’s Redis cut off, authenticated calls answer 503 and work again once it heals', async (t) => {
  if (!redisProxy) return t.skip('no Redis on this machine');
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000006', password: 'secret6' });
  const login = await call('sh-a', 'POST', '/api/login', { phone: '+8613800000006', password: 'secret6' });
  const userId = String(login.json.userId);
  const owner = fence.owner(fnv1a(userId) % 16)!;
  const auth = { 'x-session-id': String(login.json.session) };
  redisProxy.cut();
  try {
    const here = await call('sh-a', 'GET', `/api/sessions/${encodeURIComponent(auth['x-session-id'])}`);
    assert.equal(here.status, 503);
    assert.equal(here.json.error, 'ERR_SESSION_UNAVAILABLE');
    // at sh-a itself that is a 503 (logging in again there would fail too); another zone that
    // cannot get the session from sh-a answers 401, so the client logs in again where it is
    const down = await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'while cut' }, auth);
    assert.equal(down.status, owner === 'sh-a' ? 503 : 401);
  } finally {
    redisProxy.heal();
  }
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = (await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'healed' }, auth)).status;
    if (status !== 200) await systemClock.sleep(100);
  }
  assert.equal(status, 200, 'the same session works once Redis is back');
});

test('accounts: a profile over store.maxValueBytes is refused with 413 and nothing of it replicates', async () => {
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000009', password: 'secret9' });
  const login = await call('sh-a', 'POST', '/api/login', { phone: '+8613800000009', password: 'secret9' });
  const userId = String(login.json.userId);
  const owner = fence.owner(fnv1a(userId) % 16);
  const auth = { 'x-session-id': String(login.json.session) };
  const before = await stores.get(owner)!.lastSeq();
  const big = await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'x'.repeat(9000) }, auth);
  assert.equal(big.status, 413);
  assert.equal(big.json.error, 'ERR_STORE_TOO_LARGE');
  assert.match(String(big.json.message), /over store\.maxValueBytes \(8192\)/);
  assert.equal(await stores.get(owner)!.lastSeq(), before, 'nothing entered the change log');
  // a profile under the limit is written as usual
  assert.equal((await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'x'.repeat(4000) }, auth)).status, 200);
});

test('accounts: a profile is written by its owner zone and read everywhere; comments keep replies after comments', async () => {
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000004', password: 'secret4' });
  const login = await call('bj-a', 'POST', '/api/login', { phone: '+8613800000004', password: 'secret4' });
  const userId = String(login.json.userId);
  const sid = String(login.json.session);
  const owner = fence.owner(fnv1a(userId) % 16);
  const other = ZONES.find((z) => z !== owner)!;
  const auth = { 'x-session-id': sid };
  const notMine = await call(other, 'PUT', `/api/profiles/${userId}`, { bio: 'x' }, auth);
  assert.equal(notMine.status, 421);
  assert.equal(notMine.json.error, 'ERR_STORE_NOT_OWNER');
  assert.equal((await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'x' })).status, 401);
  const put = await call(owner, 'PUT', `/api/profiles/${userId}`, { bio: 'hello' }, auth);
  assert.equal(put.status, 200);
  await eventually(async () => (await call(other, 'GET', `/api/profiles/${userId}`)).status === 200);
  assert.deepEqual((await call(other, 'GET', `/api/profiles/${userId}`)).json.profile, { bio: 'hello' });

  const c1 = await call(owner, 'POST', `/api/comments/${userId}`, { text: 'first!' }, auth);
  assert.equal(c1.status, 201);
  const reply = await call(owner, 'POST', `/api/comments/${userId}`, { text: 'reply', parent: c1.json.id }, auth);
  assert.equal(reply.status, 201);
  assert.ok((reply.json.id as { n: number }).n > (c1.json.id as { n: number }).n);
  const orphan = await call(
    owner,
    'POST',
    `/api/comments/${userId}`,
    { text: '?', parent: { n: 999, zone: 'gz-a' } },
    auth,
  );
  assert.equal(orphan.status, 404);
  await eventually(
    async () => ((await call(other, 'GET', `/api/comments/${userId}`)).json.comments as unknown[]).length === 2,
  );
  const list = (await call(other, 'GET', `/api/comments/${userId}`)).json.comments as { text: string }[];
  assert.deepEqual(
    list.map((c) => c.text),
    ['first!', 'reply'],
  );
});

test('accounts: internal routes answer only signed requests and never carry password material', async () => {
  await call('sh-a', 'POST', '/api/register', { phone: '+8613800000010', password: 'secret10' });
  const login = await call('sh-a', 'POST', '/api/login', { phone: '+8613800000010', password: 'secret10' });
  const sid = String(login.json.session);
  // unsigned, however spelled: 401, and nothing about the account
  for (const path of [
    '/internal/accounts/%2B8613800000010',
    '/internal/accounts/verify',
    `/internal/sessions/${encodeURIComponent(sid)}`,
    '/api/../internal/accounts/verify',
    '/%69nternal/accounts/verify',
    '/INTERNAL/accounts/verify',
  ]) {
    for (const method of ['GET', 'POST'] as const) {
      const r = await call('sh-a', method, path, { phone: '+8613800000010', password: 'secret10' });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.json.error, 'ERR_TRUST_BAD_SIGNATURE');
      assert.doesNotMatch(JSON.stringify(r.json), /salt|hash|u[0-9a-f]{12}/);
    }
  }
  // signed: the password check answers the user id only; the old salt+hash read is gone
  const signed = async (method: 'GET' | 'POST', path: string, body?: unknown, by = signer.as('bj-a')) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const r = await request(`${url('sh-a')}${path}`, {
      method,
      headers: by.signHeaders(method, path, { 'content-type': 'application/json' }, text),
      body: text,
    });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> };
  };
  const ok = await signed('POST', '/internal/accounts/verify', { phone: '+8613800000010', password: 'secret10' });
  assert.deepEqual(ok, { status: 200, json: { userId: login.json.userId } });
  const bad = await signed('POST', '/internal/accounts/verify', { phone: '+8613800000010', password: 'wrong!!' });
  assert.equal(bad.status, 401);
  assert.equal((await signed('GET', '/internal/accounts/%2B8613800000010')).status, 404);
  assert.deepEqual(await signed('GET', `/internal/sessions/${encodeURIComponent(sid)}`), {
    status: 200,
    json: { userId: login.json.userId },
  });
  // a signature from another secret is refused
  const other = new RequestSigner({ secret: Buffer.alloc(32, 1), zone: 'bj-a', clock: systemClock });
  const forged = await signed(
    'POST',
    '/internal/accounts/verify',
    { phone: '+8613800000010', password: 'secret10' },
    other,
  );
  assert.equal(forged.status, 401);
  assert.equal(forged.json.error, 'ERR_TRUST_BAD_SIGNATURE');
});
