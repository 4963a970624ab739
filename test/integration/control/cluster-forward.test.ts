/**
 * The console's controls in distributed mode: two real `multizone zone` processes (sh-a and
 * sh-b, each with app, router, edge and control API) sharing a control Kv and a replication
 * log on NATS JetStream and a PostgreSQL server (a schema per zone). From sh-a's control API
 * alone: a conflict locked in sh-b's store is listed and resolved (forwarded to sh-b, signed
 * with the cluster secret); an edge purge reaches sh-b's edge (an object cached there is a
 * miss again); a drill of sh-b runs and reports; a forwarded call without a valid signature
 * is refused; and a process that stops answering is named rather than left out.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { request } from 'undici';
import { findProgram } from '../../../src/anycast/index.ts';
import { FORWARDED_HEADER } from '../../../src/control/index.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { fnv1a } from '../../../src/core/random.ts';
import { MemoryFence, PgStore, resourcePolicies } from '../../../src/store/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { type StartedCli, startCli, stopCli } from '../../support/cli.ts';
import { freePort } from '../../support/net.ts';
import { until as untilSupport } from '../../support/until.ts';
import { natsUrl, pgUrl, reachable } from '../store/services.ts';

const untilEvery = (what: string, cond: () => Promise<boolean> | boolean, tries = 300) =>
  untilSupport(what, cond, tries, 200);

const run = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'mz-cluster-forward-'));
const SECRET = join(dir, 'cluster-secret');
const TOKEN = 'forward-test-token';
const PREFIX = `mzfwd${run}_`;

// the routers on fixed ports, as a deployment has them: the control plane's leader checks
// another process's zone at the router address the topology gives (port 0 gives it nothing to
// check, and a drill of the other process's zone then never moved its shards)
const routerPorts = { 'sh-a': await freePort(), 'sh-b': await freePort() };
// anycast with real BIRD (each zone's on a BGP port of its own; no neighbour answers: nothing
// is established, which the cluster view does not need); without bird installed, left out
const bird = findProgram('bird') && findProgram('birdc');
if (!bird && process.env.CI === 'true') throw new Error('the cluster anycast routes need bird2 in CI');
const bgpPorts = { 'sh-a': await freePort(), 'sh-b': await freePort() };
const ANYCAST = bird
  ? `anycast:
  localAs: 65001
  riseMs: 0
  checkMs: 100
  withdrawGraceMs: 0
  bird: { dir: ${join(dir, 'bird')} }
  prefixes:
    api: { prefix: 127.0.9.70/32, role: router }
  zones:
    sh-a: { routerId: 127.0.1.1, port: ${bgpPorts['sh-a']}, neighbors: [{ address: 127.0.0.2, as: 65000, port: ${bgpPorts['sh-a'] + 1} }] }
    sh-b: { routerId: 127.0.2.1, port: ${bgpPorts['sh-b']}, neighbors: [{ address: 127.0.0.2, as: 65000, port: ${bgpPorts['sh-b'] + 1} }] }
`
  : '';
const zone = (name: 'sh-a' | 'sh-b', ip: string, core: boolean, backup: string) => `  ${name}:
    region: east
    core: ${core}
    backups: [${backup}]
    listen: { app: ${ip}:0, router: ${ip}:${routerPorts[name]}, edge: ${ip}:0, control: ${ip}:0 }`;

const YAML = `name: forward
apex: shop.test
regions:
  east: {}
zones:
${zone('sh-a', '127.0.1.1', true, 'sh-b')}
${zone('sh-b', '127.0.2.1', false, 'sh-a')}
services:
  api.shop.test: { role: router, ttl: 60, policy: nearest }
  www.shop.test: { role: edge, ttl: 60, policy: nearest }
policies:
  nearest: { default: [[sh-a, sh-b]] }
control: { listen: 127.0.0.1:0 }
shards:
  count: 64
  key:
    - header: x-user-id
resources:
  profiles: { class: sharded, paths: [/api/profiles] }
health: { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 }
failover:
  after: 600
  leaseMs: 1500
  renewMs: 300
  skewMs: 100
  check: { intervalMs: 100, timeoutMs: 300 }
  kv: { type: nats, url: '${natsUrl()}', bucket: MZFWD${run} }
replication:
  log: jetstream
  pollMs: 20
  nats: { url: '${natsUrl()}', prefix: MZFWD${run} }
store:
  adapter: postgres
  dataDir: ${join(dir, 'data')}
  postgres: { url: '${pgUrl()}', schemaPrefix: ${PREFIX}, poolSize: 2 }
edge: { adminToken: ${TOKEN} }
trust:
  secretFile: ${SECRET}
${ANYCAST}`;

async function api(base: string, method: 'GET' | 'POST', path: string, body?: unknown, headers = {}) {
  const r = await request(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.statusCode, json: (await r.body.json().catch(() => ({}))) as Record<string, unknown> };
}

describe('control: the console’s controls reach every process (two zone processes)', async () => {
  const up = (await reachable('postgres')) && (await reachable('nats'));
  let a: StartedCli | undefined;
  let b: StartedCli | undefined;
  const topology = parseTopology(YAML, 'forward.yaml');
  const cfg = join(dir, 'forward.yaml');

  before(async () => {
    if (!up) return;
    writeFileSync(SECRET, `${'cd'.repeat(32)}\n`, { mode: 0o600 });
    writeFileSync(cfg, YAML);
    [a, b] = await Promise.all([
      startCli(['zone', 'sh-a', '--config', cfg, '--json']),
      startCli(['zone', 'sh-b', '--config', cfg, '--json']),
    ]);
    // both processes are in the registry and each zone holds its lease
    await untilEvery('both processes listed alive', async () => {
      const c = await api(a!.info.control, 'GET', '/api/cluster');
      const ps = (c.json.processes ?? []) as { alive: boolean }[];
      return ps.filter((p) => p.alive).length === 2;
    });
  });
  after(async () => {
    for (const p of [a, b]) if (p) await stopCli(p.child);
    if (up) {
      const db = new pg.Client({ connectionString: pgUrl() });
      await db.connect();
      for (const z of ['sh_a', 'sh_b']) await db.query(`DROP SCHEMA IF EXISTS ${PREFIX}${z} CASCADE`);
      await db.end();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a forwarded call without a valid signature is refused 401', {
    skip: !up && 'PostgreSQL or NATS not reachable',
  }, async () => {
    const r = await api(b!.info.control, 'POST', '/api/purge', { url: '/x' }, { [FORWARDED_HEADER]: '1' });
    assert.equal(r.status, 401);
    assert.equal(r.json.error, 'ERR_CONTROL_UNAUTHORIZED');
  });

  it('a conflict locked in sh-b is listed by sh-a and resolved from sh-a', {
    skip: !up && 'PostgreSQL or NATS not reachable',
  }, async () => {
    // a record of a shard sh-b owns, locked with two concurrent versions, in sh-b's own store
    const key = Array.from({ length: 200 }, (_, i) => `fwd-${i}`).find(
      (k) => topology.initialOwners()[fnv1a(k) % 64] === 'sh-b',
    )!;
    const shard = fnv1a(key) % 64;
    const fence = new MemoryFence(topology.initialOwners());
    const store = await PgStore.open({
      zone: 'sh-b',
      topology,
      fence,
      policies: resourcePolicies(topology, fence),
      clock: systemClock,
      connection: pgUrl(),
      poolSize: 1,
      schema: `${PREFIX}sh_b`,
    });
    try {
      const cand = (origin: string, vv: Record<string, number>) => ({
        origin,
        vv,
        value: { by: origin },
        deleted: false,
        time: 1,
      });
      await store.repair([
        {
          resource: 'profiles',
          key,
          shard,
          cls: 'sharded',
          value: { by: 'sh-b' },
          deleted: false,
          vv: { 'sh-b': 1 },
          version: 1,
          origin: 'sh-b',
          time: 1,
          locked: true,
          candidates: [cand('sh-a', { 'sh-a': 1 }), cand('sh-b', { 'sh-b': 1 })],
        },
      ]);
    } finally {
      await store.close();
    }
    const id = `profiles/${key}`;
    const own = await api(a!.info.control, 'GET', '/api/conflicts');
    assert.deepEqual(own.json.conflicts, [], 'sh-a’s own list does not have it');
    const all = await api(a!.info.control, 'GET', '/api/cluster/conflicts');
    assert.equal(all.status, 200);
    const listed = (all.json.conflicts as { id: string; zones: string[]; processes: string[] }[]).find(
      (c) => c.id === id,
    );
    assert.ok(listed, JSON.stringify(all.json));
    assert.deepEqual(listed.zones, ['sh-b']);
    assert.match(listed.processes[0]!, /^sh-b_/);
    assert.deepEqual(all.json.unreached, []);
    const r = await api(a!.info.control, 'POST', '/api/cluster/conflicts/resolve', { id, pick: 'sh-b' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.zone, 'sh-b');
    assert.match(String(r.json.process), /^sh-b_/);
    await untilEvery('the conflict is gone from the cluster list', async () => {
      const x = await api(a!.info.control, 'GET', '/api/cluster/conflicts');
      return !(x.json.conflicts as { id: string }[]).some((c) => c.id === id);
    });
  });

  it('an edge purge from sh-a reaches sh-b’s edge', { skip: !up && 'PostgreSQL or NATS not reachable' }, async () => {
    const edge = b!.info.endpoints.find((e) => e.role === 'edge')!;
    const get = async () => {
      const r = await request(`http://${edge.host}:${edge.port}/1k.bin`, { headers: { host: 'www.shop.test' } });
      await r.body.text();
      assert.equal(r.statusCode, 200);
      return String(r.headers['cache-status'] ?? '');
    };
    await get();
    assert.match(await get(), /;\s*hit/, 'cached at sh-b’s edge');
    const r = await api(a!.info.control, 'POST', '/api/purge', { url: 'http://www.shop.test/1k.bin' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const edges = r.json.edges as { zone: string; status: number; purged: number }[];
    assert.deepEqual(
      edges.map((e) => [e.zone, e.status]),
      [
        ['sh-a', 200],
        ['sh-b', 200],
      ],
    );
    assert.equal(edges.find((e) => e.zone === 'sh-b')!.purged, 1);
    assert.deepEqual(r.json.unreached, []);
    assert.doesNotMatch(await get(), /;\s*hit/, 'gone from sh-b’s edge after the purge');
  });

  it('a drill of sh-b started at sh-a runs there and reports at sh-a', {
    skip: !up && 'PostgreSQL or NATS not reachable',
  }, async () => {
    const start = await api(a!.info.control, 'POST', '/api/drills', {
      zone: 'sh-b',
      mode: 'kill',
      // the fault comes 2 s in; the rest leaves a loaded machine room for the lease to lapse
      // and the shards to move (6 s once ended before they had, under a load average of 15)
      durationS: '10',
      rps: '20',
    });
    assert.equal(start.status, 200, JSON.stringify(start.json));
    let seen:
      | {
          state: string;
          report: { zone: string; rtoMs: number | null; moved: Record<string, number> } | null;
          error: string | null;
          progress: unknown;
        }
      | undefined;
    let progressed = false;
    await untilEvery(
      'the drill is done',
      async () => {
        const d = await api(a!.info.control, 'GET', '/api/drills');
        seen = (d.json.drills as NonNullable<typeof seen>[])[0];
        if (seen?.progress) progressed = true;
        return seen?.state !== 'running';
      },
      600,
    );
    assert.equal(seen?.state, 'done', seen?.error ?? '');
    assert.ok(progressed, 'progress was shown while it ran');
    assert.equal(seen!.report!.zone, 'sh-b');
    assert.ok((seen!.report!.moved['sh-a'] ?? 0) > 0, `sh-b's shards moved to sh-a: ${JSON.stringify(seen!.report)}`);
    // the fault was made by sh-b's process: its audit entry is in the shared log
    const audit = await api(a!.info.control, 'GET', '/api/audit?limit=200');
    const entries = audit.json.entries as {
      action: string;
      zone?: string;
      reason?: string;
      declaredBy?: unknown;
      moves?: { to: string[] };
    }[];
    assert.ok(entries.some((e) => e.action === 'drill' && e.zone === 'sh-b'));
    const verdict = entries.find((e) => e.action === 'verdict' && e.zone === 'sh-b' && e.declaredBy);
    assert.ok(verdict, 'the verdict says who declared sh-b down');
    assert.deepEqual(verdict.moves?.to, ['sh-a']);
  });

  it('anycast: sh-a’s control API lists both zones’ announcements and drains sh-b in sh-b’s process', {
    skip: (!up && 'PostgreSQL or NATS not reachable') || (!bird && 'bird2 not installed'),
  }, async () => {
    type Zones = { zone: string; process: string; drained: boolean; prefixes: { action: string }[] }[];
    const view = async () => (await api(a!.info.control, 'GET', '/api/cluster/anycast')).json;
    const own = await api(a!.info.control, 'GET', '/api/anycast');
    assert.deepEqual(
      (own.json.zones as Zones).map((z) => z.zone),
      ['sh-a'],
      'each process announces for its own zone',
    );
    const all = await view();
    assert.equal(all.enabled, true);
    assert.deepEqual(
      (all.zones as Zones).map((z) => [z.zone, z.process.split('_')[0]]),
      [
        ['sh-a', 'sh-a'],
        ['sh-b', 'sh-b'],
      ],
    );
    assert.deepEqual(all.unreached, []);
    const d = await api(a!.info.control, 'POST', '/api/cluster/anycast/drain', { zone: 'sh-b' });
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.match(String(d.json.process), /^sh-b_/);
    const inB = await api(b!.info.control, 'GET', '/api/anycast');
    assert.equal((inB.json.zones as Zones)[0]!.drained, true, JSON.stringify(inB.json));
    await untilEvery('sh-b withdraws, as the cluster view shows', async () =>
      ((await view()).zones as Zones).some((z) => z.zone === 'sh-b' && z.prefixes[0]?.action === 'withdraw'),
    );
    const u = await api(a!.info.control, 'POST', '/api/cluster/anycast/drain', { zone: 'sh-b', drain: false });
    assert.equal(u.status, 200);
    const none = await api(a!.info.control, 'POST', '/api/cluster/anycast/drain', { zone: 'gz-a' });
    assert.equal(none.json.error, 'ERR_ANYCAST_NOT_CONFIGURED', JSON.stringify(none.json));
  });

  it('a process that stops answering is named, not left out', {
    skip: !up && 'PostgreSQL or NATS not reachable',
  }, async () => {
    b!.child.kill('SIGSTOP');
    try {
      const all = await api(a!.info.control, 'GET', '/api/cluster/conflicts');
      assert.equal(all.status, 200);
      const u = all.json.unreached as { zones: string[]; error: string }[];
      assert.deepEqual(
        u.map((x) => x.zones),
        [['sh-b']],
      );
      assert.match(u[0]!.error, /not answering/);
      const p = await api(a!.info.control, 'POST', '/api/purge', { prefix: '/' });
      assert.equal(p.status, 200);
      assert.deepEqual(
        (p.json.unreached as { zones: string[] }[]).map((x) => x.zones),
        [['sh-b']],
      );
    } finally {
      b!.child.kill('SIGCONT');
    }
  });
});
