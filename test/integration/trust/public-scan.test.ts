// The default embedded cluster (every role of every zone, the accounts app behind the
// routers) scanned on every public listener (edge, router, HTTPDNS, control) with /internal
// paths and the normalisation tricks that would let a lenient hop map them back to /internal.
// Not one may reach an app: each app counts the internal-looking requests it receives.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { createAccountsAppRole } from '../../../examples/accounts/role.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { type AppRole, type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { DEFAULT_TOPOLOGY_FILE, parseTopology } from '../../../src/topology/index.ts';
import { isInternalPath, RequestSigner } from '../../../src/trust/index.ts';
import { testDataDir } from '../../support/net.ts';

const SECRET = Buffer.alloc(32, 0x33);
/** Requests each zone's app received for an internal-looking path, with the target as received. */
const appHits: string[] = [];

/** The accounts app, with a listener that records internal-looking requests it receives. */
function countingAccounts(): AppRole {
  const inner = createAccountsAppRole({ scryptN: 1024 });
  return {
    name: inner.name,
    async start(ctx) {
      const app = await inner.start(ctx);
      app.server.prependListener('request', (req) => {
        const url = req.url ?? '/';
        if (isInternalPath(url) || /internal/i.test(decodeURIComponentSafe(url)))
          appHits.push(`${ctx.zone.name} ${url}`);
      });
      return app;
    },
  };
}

function decodeURIComponentSafe(s: string): string {
  let out = s;
  for (let i = 0; i < 4; i++) {
    try {
      out = decodeURIComponent(out);
    } catch {
      break;
    }
  }
  return out;
}

/** The path tricks: each names /internal/accounts/… to someone who normalises leniently. */
const TRICKS = [
  '/internal/x',
  '/internal/accounts/verify',
  '/internal/sessions/sh-a.abc',
  '/internal/accounts/%2B8613800000001',
  '/internal',
  '/internal/',
  '/api/../internal/x',
  '/api/%2e%2e/internal/x',
  '/api/%2E%2E/internal/x',
  '/api/.%2e/internal/x',
  '/api/%2e./internal/x',
  '/%69nternal/x',
  '/%49NTERNAL/x',
  '/%69%6e%74%65%72%6e%61%6c/x',
  '//internal/x',
  '///internal/x',
  '/INTERNAL/x',
  '/Internal/x',
  '/INTERNAL?',
  '/internal?x=1',
  '/internal#x',
  '\\internal\\x',
  '/\\internal/x',
  '/api\\..\\internal\\x',
  '/api%5c..%5cinternal/x',
  '/api%2f..%2finternal/x',
  '/api%2F%2E%2E%2Finternal/x',
  '/%2finternal/x',
  '/%2569nternal/x',
  '/api/%252e%252e/internal/x',
  '/%25%36%39nternal/x',
  '/%252569nternal/x',
  '/./internal/x',
  '/api/./../internal/x',
  '/internal;v=1/x',
  '/api/..;/internal/x',
  '/internal%00/x',
  '/internal%20/x',
  '/internal./x',
  '/a/b/../../internal/x',
  '/a/../../../internal/x',
  'http://api.shop.test/internal/x',
  'http://api.shop.test/api/../internal/x',
];

let cluster: RunningCluster;
let publicListeners: { zone: string | null; role: string; host: string; port: number }[];

before(async () => {
  // the default topology, every listener on port 0 of its own loopback address
  const yaml = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8').replace(/(127\.0\.\d+\.\d+):\d+/g, '$1:0');
  const topology = parseTopology(`${yaml}\nstore:\n  dataDir: ${testDataDir()}\n`, 'default-topology.yaml');
  cluster = await startCluster({ topology, logger: silentLogger, app: countingAccounts(), secret: SECRET });
  publicListeners = cluster.listeners.filter((l) => ['edge', 'router', 'httpdns', 'control'].includes(l.role));
});
after(() => cluster.close());

/** One raw HTTP/1.1 exchange with the target exactly as written. */
function raw(
  host: string,
  port: number,
  method: string,
  target: string,
  body = '',
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let buf = '';
    s.setEncoding('latin1');
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d) => (buf += d));
    s.on('error', () => {});
    s.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      resolve({ status: m ? Number(m[1]) : 0, text: buf });
    });
    const len = body ? `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` : '';
    s.write(`${method} ${target} HTTP/1.1\r\nhost: api.shop.test\r\n${len}connection: close\r\n\r\n${body}`);
  });
}

test('trust/public-scan: no /internal trick on any public listener reaches an app', async () => {
  assert.deepEqual(
    [...new Set(publicListeners.map((l) => l.role))].sort(),
    ['control', 'edge', 'httpdns', 'router'],
    'every kind of public listener is scanned',
  );
  const body = JSON.stringify({ phone: '+8613800000001', password: 'secret1' });
  let sent = 0;
  const leaks: string[] = [];
  for (const l of publicListeners)
    for (const t of TRICKS)
      for (const method of ['GET', 'POST']) {
        const r = await raw(l.host, l.port, method, t, method === 'POST' ? body : '');
        sent++;
        // a 200 carrying an app's answer (a user id, a salt or hash) is a leak whatever the status line says
        if (/"userId"|"salt"|"hash"/.test(r.text))
          leaks.push(`${l.role} ${l.zone} ${method} ${t}: ${r.text.slice(0, 120)}`);
        if ((l.role === 'edge' || l.role === 'router') && r.status !== 400)
          assert.equal(r.status, 404, `${l.role} ${l.zone} ${method} ${t}: ${r.text.slice(0, 200)}`);
      }
  assert.ok(sent >= publicListeners.length * TRICKS.length * 2);
  assert.deepEqual(leaks, []);
  assert.deepEqual(appHits, [], 'no app received an internal-looking request');
});

test('trust/public-scan: the edge and the router say why (ERR_TRUST_INTERNAL_PATH), JSON', async () => {
  for (const l of publicListeners.filter((x) => x.role === 'edge' || x.role === 'router')) {
    const r = await request(`http://${l.host}:${l.port}/api/%2e%2e/internal/accounts/verify`, {
      headers: { host: 'api.shop.test' },
    });
    assert.equal(r.statusCode, 404);
    assert.equal(((await r.body.json()) as { error: string }).error, 'ERR_TRUST_INTERNAL_PATH');
  }
});

test('trust/public-scan: the counter sees what a zone sends: a signed internal call does reach the app', async () => {
  const app = cluster.services.zones.get('sh-a')!.app!;
  const path = '/internal/sessions/sh-a.nope';
  const headers = new RequestSigner({ secret: SECRET, zone: 'bj-a', clock: systemClock }).signHeaders('GET', path, {});
  const r = await request(`http://${app.host}:${app.port}${path}`, { headers });
  assert.equal(r.statusCode, 404); // no such session, but asked and answered by the app
  await r.body.dump();
  assert.equal(appHits.length, 1);
  appHits.length = 0;
  // and the app itself refuses the unsigned
  const bare = await request(`http://${app.host}:${app.port}${path}`);
  assert.equal(bare.statusCode, 401);
  await bare.body.dump();
  appHits.length = 0;
});
