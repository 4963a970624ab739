// edge.workers: 2 through `multizone up`'s runtime: each zone's edge is its process plus a forked
// worker accepting on the same socket; a purge made through either reaches both before it answers,
// the zone's /metrics sums both, a killed worker is started again while the zone's process keeps
// serving, and closing the cluster stops the workers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../src/core/logger.ts';
import { renderMetrics } from '../../../src/core/metrics.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { testTopology } from '../../support/net.ts';
import { type Reply, requestOnce } from '../../support/workers.ts';

const TOKEN = 'test-token';
let cluster: RunningCluster;
let base: { host: string; port: number };

before(async () => {
  cluster = await startCluster({
    topology: testTopology({ roles: ['app', 'edge'], extra: `edge:\n  adminToken: ${TOKEN}\n  workers: 2\n` }),
    logger: silentLogger,
  });
  const e = cluster.listeners.find((l) => l.role === 'edge' && l.zone === 'sh-b')!;
  base = { host: e.host, port: e.port };
});
after(() => cluster?.close());

/** One request on a new connection (so the kernel picks the process that accepts it). */
const once = (method: string, path: string, body?: string, extra: Record<string, string> = {}): Promise<Reply> =>
  requestOnce(base, method, path, { host: 'localhost', authorization: `Bearer ${TOKEN}`, ...extra }, body);

interface Stats {
  pid: number;
  objects: number;
  hits: { all: number };
}

/** /.mz/stats of every process of the zone's edge: asks on new connections until `n` pids answered. */
async function statsByPid(n: number, tries = 400): Promise<Map<number, Stats>> {
  const seen = new Map<number, Stats>();
  for (let i = 0; i < tries && seen.size < n; i++) {
    const r = await once('GET', '/.mz/stats');
    assert.equal(r.status, 200, r.body);
    const s = JSON.parse(r.body) as Stats;
    seen.set(s.pid, s);
  }
  return seen;
}

test('edge workers: two processes answer on one socket, each with its own tiers', async () => {
  const stats = await statsByPid(2);
  assert.equal(stats.size, 2, `two processes answer: ${[...stats.keys()]}`);
  assert.ok(stats.has(process.pid), 'the zone process is one of them');
});

test('edge workers: a purge through either process empties both before it answers; metrics sum both', async () => {
  // fill both processes' caches: fresh connections land on both, though not evenly
  let hits = 0;
  let before = new Map<number, Stats>();
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 20; i++) {
      const r = await once('GET', '/style.css');
      assert.equal(r.status, 200);
      if (/multizone; hit/.test(String(r.headers['cache-status']))) hits++;
    }
    before = await statsByPid(2);
    if ([...before.values()].every((s) => s.objects === 1)) break;
  }
  for (const [pid, s] of before) assert.equal(s.objects, 1, `process ${pid} holds style.css`);
  // the zone's /metrics counts the hits of both processes
  const text = await renderMetrics(cluster.services.metrics);
  const m = /mz_edge_hits_total\{zone="sh-b"\} (\d+)/.exec(text);
  assert.equal(Number(m?.[1]), hits, `summed hits in /metrics: ${m?.[0]}`);

  const purge = await once('POST', '/.mz/purge', JSON.stringify({ tags: ['assets'] }));
  assert.equal(purge.status, 200, purge.body);
  assert.equal(JSON.parse(purge.body).purged, 2, `one copy per process: ${purge.body}`);
  const afterPurge = await statsByPid(2);
  for (const [pid, s] of afterPurge) assert.equal(s.objects, 0, `process ${pid} holds nothing after the purge`);
  // a push lands in both too
  const push = await once('PUT', '/.mz/push?url=/pushed.txt', 'pushed body', { 'cache-control': 'max-age=600' });
  assert.equal(push.status, 201, push.body);
  const afterPush = await statsByPid(2);
  for (const [pid, s] of afterPush) assert.equal(s.objects, 1, `process ${pid} holds the pushed object`);
  for (let i = 0; i < 20; i++) {
    const r = await once('GET', '/pushed.txt');
    assert.equal(r.body, 'pushed body');
    assert.match(String(r.headers['cache-status']), /multizone; hit/, 'every process answers from its copy');
  }
});

test('edge workers: a killed worker is started again; the zone keeps answering meanwhile', async () => {
  const [worker] = [...(await statsByPid(2)).keys()].filter((p) => p !== process.pid);
  assert.ok(worker, 'a worker pid');
  process.kill(worker, 'SIGKILL');
  let next: number | undefined;
  let answered = 0;
  for (let i = 0; i < 2000 && next === undefined; i++) {
    const r = await once('GET', '/.mz/stats');
    assert.equal(r.status, 200, 'every request is answered while the worker is down');
    answered++;
    const pid = (JSON.parse(r.body) as Stats).pid;
    if (pid !== process.pid && pid !== worker) next = pid;
    if (pid === process.pid) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(next, `a new worker answers after ${answered} requests`);
  await cluster.close();
  assert.throws(() => process.kill(next!, 0), /ESRCH/, 'closing the cluster stops its workers');
});
