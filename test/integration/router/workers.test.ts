// router.workers: 2 through `multizone up`'s runtime: each zone's router is its process plus a
// forked worker accepting on the same socket. Both route alike (forward hops signed, writes
// fenced by the zone's lease, which the worker holds as a copy refreshed past leaseMs), a shard
// move made in the control plane reaches the worker's answers, /metrics sums both, a drill's
// kill stops both and its restore brings both back, and a killed worker is forked again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { renderMetrics } from '../../../src/core/metrics.ts';
import type { RunningCluster } from '../../../src/runtime/index.ts';
import { shardForKey } from '../../../src/shardmap/index.ts';
import { childPids, requestOnce } from '../../support/workers.ts';
import { FAST_FAILOVER_YAML, startRoutingCluster } from './fixture.ts';

let c: RunningCluster;
let base: { host: string; port: number };

before(async () => {
  c = await startRoutingCluster(`${FAST_FAILOVER_YAML}router:\n  workers: 2\n`);
  const r = c.listeners.find((l) => l.role === 'router' && l.zone === 'sh-a')!;
  base = { host: r.host, port: r.port };
});
after(() => c?.close());

/** One request to sh-a's router on a new connection (so the kernel picks the process that accepts it). */
const once = (method: string, path: string, headers: Record<string, string> = {}) =>
  requestOnce(base, method, path, headers);

const owner = (shard: number) => c.services.shardmap.map.owner(shard).zone;
/** A user whose shard `zone` owns now. */
function userOf(zone: string, skip = 0): string {
  for (let k = 0, n = 0; ; k++) if (owner(shardForKey(`u${k}`, 64)) === zone && n++ === skip) return `u${k}`;
}

/** Pids that answered /_mz/health over up to `tries` new connections (stops once two were seen). */
async function answering(tries = 200): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < tries && pids.size < 2; i++) {
    const r = await once('GET', '/_mz/health');
    assert.equal(r.status, 200);
    pids.add((JSON.parse(r.body) as { pid: number }).pid);
  }
  return pids;
}

function forwards(text: string): number {
  const m = /mz_router_requests_total\{zone="sh-a",route="forward"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

const workerPids = () => childPids('router/worker-main');

test('router workers: both processes answer and forward alike; /metrics sums them', async () => {
  const pids = await answering();
  assert.equal(pids.size, 2, `two processes answered: ${[...pids]}`);
  assert.ok(pids.has(process.pid), 'the zone process is one of them');
  const user = userOf('bj-a');
  const before = forwards(await renderMetrics(c.services.metrics));
  const ownBefore = forwards(await c.services.metrics.metrics());
  // writes: a profile read would be served by the local replica (freshness: minutes)
  for (let i = 0; i < 60; i++) {
    const r = await once('POST', '/api/profiles/x', { 'x-user-id': user });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-multizone-served-by'], 'bj-a', `request ${i} went to the owner zone`);
  }
  // the workers report their counts every 0.5 s; the scrape sums what each has now
  const all = forwards(await renderMetrics(c.services.metrics)) - before;
  const own = forwards(await c.services.metrics.metrics()) - ownBefore;
  assert.equal(all, 60, 'the summed count has every forward');
  assert.ok(own < all, `the worker forwarded some (zone process ${own} of ${all})`);
});

test('router workers: writes pass the fence past leaseMs (the lease copy is refreshed) and a move reaches the worker', async () => {
  const mine = userOf('sh-a');
  const until = Date.now() + 2_000; // leaseMs is 1200 in this topology
  let n = 0;
  while (Date.now() < until || n < 40) {
    const r = await once('POST', '/api/profiles/x', { 'x-user-id': mine });
    assert.equal(r.status, 200, `write ${n}: ${r.body}`);
    assert.equal(r.headers['x-multizone-served-by'], 'sh-a');
    n++;
  }
  const user = userOf('bj-a', 1);
  const shard = shardForKey(user, 64);
  await c.services.shardmap.map.move(shard, 'gz-a');
  // every process follows within a copy's delay; then every answer comes from the new owner
  let moved = false;
  for (let i = 0; i < 50 && !moved; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const rs = await Promise.all(
      Array.from({ length: 10 }, () => once('POST', '/api/profiles/x', { 'x-user-id': user })),
    );
    moved = rs.every((r) => r.headers['x-multizone-served-by'] === 'gz-a');
  }
  assert.ok(moved, 'both processes route to the new owner');
  for (let i = 0; i < 40; i++) {
    const r = await once('POST', '/api/profiles/x', { 'x-user-id': user });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-multizone-served-by'], 'gz-a', `write ${i} after the move`);
  }
});

test('router workers: a drill kill stops every process of the zone; restore brings both back', async () => {
  const sw = c.services.zones.get('sh-a')!.switch!;
  await sw.kill();
  try {
    await assert.rejects(once('GET', '/_mz/health'), /ECONNREFUSED/);
    assert.equal(workerPids().length, 3, 'sh-a’s worker stopped, the other zones’ run');
  } finally {
    await sw.restore();
  }
  const pids = await answering();
  assert.equal(pids.size, 2, `two processes answer again: ${[...pids]}`);
});

test('router workers: a killed worker is forked again while the zone process answers', async () => {
  const pids = workerPids();
  assert.equal(pids.length, 4, `one worker per zone: ${pids}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 20; i++) assert.equal((await once('GET', '/_mz/health')).status, 200);
  let back = false;
  for (let i = 0; i < 100 && !back; i++) {
    await new Promise((r) => setTimeout(r, 100));
    back = workerPids().filter((p) => !pids.includes(p)).length === 4;
  }
  assert.ok(back, 'the workers were forked again');
  // forked is not yet serving: it answers once it has built its router and taken the socket
  let serving = 0;
  for (let i = 0; i < 50 && serving < 2; i++) serving = (await answering(40)).size;
  assert.equal(serving, 2, 'the new worker answers too');
});
