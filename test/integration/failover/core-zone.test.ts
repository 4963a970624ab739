// The core zone can die: global resources (accounts) follow the shard map's global owner. While
// the role moves, registration answers 503 with Retry-After (never a 500); after the move it is
// written in the new global writer; failback returns the writer with every account kept.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { createAccountsAppRole } from '../../../examples/accounts/role.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { GLOBAL } from '../../../src/shardmap/index.ts';
import { testTopology } from '../../support/net.ts';
import { FAST_FAILOVER_YAML, routerUrls } from '../router/fixture.ts';

const yaml = (dataDir: string) => `
shards: { count: 16, key: [{ header: x-user-id }] }
resources:
  accounts: { class: global, paths: [/api/accounts, /api/register], unique: true }
health: { enabled: false }
store: { dataDir: ${dataDir} }
replication: { pollMs: 20 }
${FAST_FAILOVER_YAML}`;

describe('failover: the core zone dies and global writes follow the global owner', () => {
  let dir: string;
  let c: RunningCluster;
  let control: string;
  let urls: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mz-core-zone-'));
    const topology = testTopology({ roles: ['app', 'router'], extra: yaml(join(dir, 'data')) });
    c = await startCluster({
      topology,
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
      app: createAccountsAppRole({ scryptN: 1024 }),
    });
    control = `http://${c.control.host}:${c.control.port}`;
    urls = routerUrls(c);
  });
  after(async () => {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  const register = async (via: string) => {
    const phone = `+86139${String(++n).padStart(8, '0')}`;
    const r = await request(`${urls[via]}/api/register`, {
      method: 'POST',
      body: JSON.stringify({ phone, password: 'secret1' }),
      headers: { 'content-type': 'application/json' },
    });
    const body = (await r.body.json()) as { zone?: string; error?: string };
    return {
      phone,
      status: r.statusCode,
      retryAfter: r.headers['retry-after'],
      body,
      writtenIn: r.headers['x-accounts-written-in'],
    };
  };
  const post = async (path: string, zone: string) => {
    const r = await request(`${control}${path}`, { method: 'POST', body: JSON.stringify({ zone }) });
    const body = await r.body.json();
    assert.equal(r.statusCode, 200, `${path} ${JSON.stringify(body)}`);
    return body;
  };

  it('registration moves to the new global writer, with 503 + Retry-After while it moves, and back on failback', async () => {
    const map = c.services.shardmap.map;
    assert.equal(map.owner(GLOBAL).zone, 'sh-a');
    const first = await register('sh-b');
    assert.equal(first.status, 201);
    assert.equal(first.writtenIn, 'sh-a');

    await post('/api/drill/kill', 'sh-a');
    const seen = new Map<number, number>();
    let moved: Awaited<ReturnType<typeof register>> | undefined;
    for (let i = 0; i < 200 && !moved; i++) {
      const r = await register('sh-b');
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      if (r.status === 201) moved = r;
      else {
        assert.ok(r.status === 502 || r.status === 503, `while the role moves: ${r.status} ${JSON.stringify(r.body)}`);
        if (r.status === 503) assert.equal(r.retryAfter, '1', 'a 503 says when to retry');
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    assert.ok(moved, `registration never succeeded again: ${JSON.stringify([...seen])}`);
    const owner = map.owner(GLOBAL);
    assert.notEqual(owner.zone, 'sh-a');
    assert.equal(owner.epoch, 2);
    assert.equal(moved.writtenIn, owner.zone, 'written in the new global writer');
    assert.equal(seen.get(500), undefined, 'never a 500');

    // the old core comes back: failback returns the writer (planned: every account is there)
    await post('/api/drill/restore', 'sh-a');
    // failback waits for the controller to see sh-a up again with its lease (ERR_FAILOVER_NOT_READY until then)
    for (let i = 0; ; i++) {
      const r = await request(`${control}/api/failback`, { method: 'POST', body: JSON.stringify({ zone: 'sh-a' }) });
      const body = (await r.body.json()) as { error?: string };
      if (r.statusCode === 200) break;
      assert.equal(body.error, 'ERR_FAILOVER_NOT_READY');
      assert.ok(i < 100, 'sh-a never became ready for failback');
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(map.owner(GLOBAL).zone, 'sh-a');
    assert.equal(map.owner(GLOBAL).epoch, 3);
    const back = await register('gz-a');
    assert.equal(back.status, 201);
    assert.equal(back.writtenIn, 'sh-a');
    const store = c.services.data.stores.get('sh-a')!;
    for (const phone of [first.phone, moved.phone, back.phone])
      assert.ok((await store.get('accounts', phone))?.value, `${phone} is in sh-a after the failback`);
  });
});
