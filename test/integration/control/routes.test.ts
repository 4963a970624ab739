/**
 * The control API's routes as a client sees them: one in-process cluster (four zones, data
 * plane on SQLite), every call over a real socket. Wrong method, body too large, unknown
 * zones and invalid parameters each get their own status and code, never a 200, a 404 or a
 * reset.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';

describe('control API: routes', () => {
  let c: RunningCluster;
  let base: string;

  before(async () => {
    const topology = testTopology({
      extra: 'resources:\n  profiles: { class: sharded }\nhealth: { enabled: false }\n',
    });
    c = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
    base = `http://${c.control.host}:${c.control.port}`;
  });
  after(async () => {
    await c.close();
  });

  const call = async (method: string, path: string, body?: string) => {
    const r = await request(`${base}${path}`, { method: method as 'GET', body });
    const text = await r.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    return { status: r.statusCode, headers: r.headers, json };
  };

  it('control API: a wrong method on a known path is a 405 with an Allow header', async () => {
    const r = await call('GET', '/api/failover');
    assert.equal(r.status, 405);
    assert.equal(r.json.error, 'ERR_CONTROL_METHOD_NOT_ALLOWED');
    assert.equal(r.headers.allow, 'POST');
    const d = await call('DELETE', '/api/conflicts');
    assert.equal(d.status, 405);
    assert.equal(d.headers.allow, 'GET');
    // an unknown path stays a 404
    const n = await call('GET', '/api/nope');
    assert.equal(n.status, 404);
    assert.equal(n.json.error, 'ERR_CONTROL_NOT_FOUND');
  });

  it('control API: a body over 64 KiB is a 413 with its code, and the connection is not reset', async () => {
    const big = JSON.stringify({ zone: 'sh-a', pad: 'x'.repeat(100 * 1024) });
    const r = await call('POST', '/api/failover', big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error, 'ERR_CONTROL_BODY_TOO_LARGE');
    // curl sends the whole body and reads the reply: no "connection reset by peer" (exit 56)
    // (spawned, not spawnSync: the server runs in this process)
    const curl = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn('curl', [
        '-sS',
        '-o',
        '-',
        '-w',
        '\n%{http_code}',
        '-X',
        'POST',
        '--data-binary',
        '@-',
        `${base}/api/drill/kill`,
      ]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
      p.stdin.end(big);
    });
    assert.equal(curl.status, 0, curl.stderr);
    const lines = curl.stdout.trim().split('\n');
    assert.equal(lines.at(-1), '413');
    assert.equal((JSON.parse(lines[0]!) as { error: string }).error, 'ERR_CONTROL_BODY_TOO_LARGE');
    // the server is still fine, and a normal body still works on a new connection
    assert.equal((await call('GET', '/api/conflicts')).status, 200);
  });

  it('control API: a raw client that sends an oversized body reads a whole 413 reply', async () => {
    const body = 'x'.repeat(200 * 1024);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(c.control.port, c.control.host, () => {
        s.write(
          `POST /api/drill/restore HTTP/1.1\r\nhost: control\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
        );
        s.end(body);
      });
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /ERR_CONTROL_BODY_TOO_LARGE/);
  });

  it('control API: anti-entropy for an unknown zone is a 400, for a known one a pass over its pairs', async () => {
    const bad = await call('POST', '/api/replication/anti-entropy', JSON.stringify({ zone: 'xx' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, 'ERR_REPL_UNKNOWN_ZONE');
    const typo = await call('POST', '/api/replication/anti-entropy', JSON.stringify({ zoen: 'sh-a' }));
    assert.equal(typo.status, 400);
    assert.equal(typo.json.error, 'ERR_CONTROL_BAD_REQUEST');
    const ok = await call('POST', '/api/replication/anti-entropy', JSON.stringify({ zone: 'sh-b' }));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.zone, 'sh-b');
    assert.equal(typeof ok.json.shards, 'number');
    const all = await call('POST', '/api/replication/anti-entropy');
    assert.equal(all.status, 200);
    assert.equal(typeof all.json.repaired, 'number');
  });

  it('control API: parameters are checked (audit limit/after, steer family, shardmap shards, lag zone, body shape)', async () => {
    const fam = await call('GET', '/api/steer?service=api.shop.test&ip=1.2.4.8&family=7');
    assert.equal(fam.status, 400);
    assert.equal(fam.json.error, 'ERR_CONTROL_BAD_REQUEST');
    assert.equal((await call('GET', '/api/steer?service=api.shop.test&ip=1.2.4.8&family=6')).status, 200);
    const shards = await call('GET', '/api/shardmap?shards=yes');
    assert.equal(shards.status, 400);
    assert.equal((await call('GET', '/api/shardmap?shards=0')).status, 200);
    const lag = await call('GET', '/api/replication/lag?zone=xx');
    assert.equal(lag.status, 400);
    assert.equal(lag.json.error, 'ERR_REPL_UNKNOWN_ZONE');
    // ?to= names the zones a move hands shards to: each must be a zone
    const toBad = await call('GET', '/api/replication/lag?zone=sh-a&to=bj-a,xx');
    assert.equal(toBad.status, 400);
    assert.equal(toBad.json.error, 'ERR_REPL_UNKNOWN_ZONE');
    const to = await call('GET', '/api/replication/lag?zone=sh-a&to=bj-a');
    assert.equal(to.status, 200, JSON.stringify(to.json));
    assert.deepEqual(to.json.to, ['bj-a']);
    assert.equal(typeof to.json.records, 'number');
    // a zone as an array or a number is not coerced into a name
    for (const body of ['{"zone":["sh-a"]}', '{"zone":5}', '["sh-a"]', '"sh-a"']) {
      const r = await call('POST', '/api/failover', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.json.error, 'ERR_CONTROL_BAD_REQUEST', body);
    }
    for (const q of ['limit=-1', 'limit=0', 'limit=abc', 'limit=1.5', 'limit=100001', 'after=-3']) {
      const r = await call('GET', `/api/audit?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error, 'ERR_CONTROL_BAD_REQUEST', q);
    }
    assert.equal((await call('GET', '/api/audit?limit=5')).status, 200);
    // a JSON body that is not an object is the caller's mistake (400), not a crash (500)
    for (const body of ['null', '[]', '"x"']) {
      const r = await call('POST', '/api/conflicts/resolve', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.json.error, 'ERR_CONTROL_BAD_REQUEST', body);
    }
    const unknown = await call('POST', '/api/failback', JSON.stringify({ zone: 'xx' }));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error, 'ERR_FAILOVER_UNKNOWN_ZONE');
  });
});
