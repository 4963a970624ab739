// dns.workers: 2 through `multizone up`'s runtime: each zone's DNS is its process plus a forked
// worker on the same UDP socket and TCP listener; both answer (the zone's /metrics sums them), a
// health verdict made in the zone's process reaches the worker's answers, c-ares gets the same
// steered answer over TCP, a killed worker is forked again, and `latency: true` is refused.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { after, before, test } from 'node:test';
import { YamlSource } from '../../../src/core/config.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { renderMetrics } from '../../../src/core/metrics.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { checkTopology } from '../../../src/topology/index.ts';
import { testTopology, testTopologyYaml } from '../../support/net.ts';
import { childPids } from '../../support/workers.ts';
import { decode, query, udpExchange } from './helpers.ts';

let cluster: RunningCluster;
let bj: { host: string; port: number };
before(async () => {
  cluster = await startCluster({
    topology: testTopology({ roles: ['dns'], loopbackPerZone: true, extra: 'dns:\n  workers: 2\n' }),
    logger: silentLogger,
  });
  bj = cluster.listeners.find((l) => l.role === 'dns' && l.zone === 'bj-a')!;
});
after(() => cluster?.close());

/** The A record a north-China client subnet gets from bj-a's DNS (UDP, a new socket each time). */
async function north(): Promise<string[]> {
  const r = await udpExchange(
    bj.port,
    query('api.shop.test', 'A', { ecs: { ip: '1.2.4.0', prefix: 24 } }),
    3000,
    bj.host,
  );
  assert.ok(r, 'an answer');
  return decode(r).answers.map((a) => (a as { data: string }).data);
}

/** mz_dns_queries_total for bj-a's UDP A answers in a metrics text. */
function udpAnswers(text: string): number {
  const m = /mz_dns_queries_total\{zone="bj-a",rcode="NOERROR",qtype="A",transport="udp"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

test('dns workers: both processes answer on one socket, alike; /metrics sums them', async () => {
  const before = udpAnswers(await renderMetrics(cluster.services.metrics));
  for (let i = 0; i < 200; i++) assert.equal((await north())[0], '127.0.3.1');
  const all = udpAnswers(await renderMetrics(cluster.services.metrics)) - before;
  const own = udpAnswers(await cluster.services.metrics.metrics()) - before;
  assert.ok(all >= 200, `the summed count has every answer: ${all}`);
  assert.ok(own < all, `the worker answered some (zone process ${own} of ${all})`);
  // c-ares over TCP lands on one of them too, and gets the steered answer
  const r = new dns.promises.Resolver({ timeout: 3000, tries: 2 });
  r.setServers([`${bj.host}:${bj.port}`]);
  assert.ok((await r.resolve4('api.shop.test')).length > 0);
});

test('dns workers: a health verdict made in the zone process reaches every answer', async () => {
  cluster.services.state.setUp('bj-a/dns', false);
  try {
    // the verdict travels to the worker in the next turn of the zone process's loop
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 100; i++) {
      const a = await north();
      assert.ok(!a.includes('127.0.3.1'), `a down endpoint is not answered (try ${i}: ${a})`);
    }
  } finally {
    cluster.services.state.setUp('bj-a/dns', true);
  }
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 50; i++) assert.equal((await north())[0], '127.0.3.1');
});

test('dns workers: a killed worker is forked again while the zone process answers', async () => {
  const own = () => cluster.services.metrics.metrics().then(udpAnswers);
  // this process's DNS workers: one per zone
  const workers = () => childPids('dns/worker-main');
  const pids = workers();
  assert.equal(pids.length, 4, `one worker per zone: ${pids}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const start = await own();
  for (let i = 0; i < 20; i++) assert.equal((await north())[0], '127.0.3.1');
  assert.equal((await own()) - start, 20, 'with its worker dead, the zone process answered every query');
  let back = false;
  for (let i = 0; i < 100 && !back; i++) {
    await new Promise((r) => setTimeout(r, 100));
    back = workers().filter((p) => !pids.includes(p)).length === 4;
  }
  assert.ok(back, 'the workers were forked again');
});

test('dns workers: a latency-ranked policy with dns.workers > 1 is a config error naming the line', () => {
  const yaml = testTopologyYaml({ roles: ['dns'], extra: 'dns:\n  workers: 2\n' }).replace(
    /policies:\n {2}nearest:\n/,
    'policies:\n  nearest:\n    latency: true\n',
  );
  const { problems } = checkTopology(new YamlSource('t.yaml', yaml));
  const p = problems.find((x) => x.path === 'dns.workers');
  assert.ok(p, `a problem at dns.workers: ${JSON.stringify(problems)}`);
  assert.match(p.message, /cannot rank by latency \(policies\.nearest\.latency: true\)/);
  assert.ok(p.line > 0);
});
