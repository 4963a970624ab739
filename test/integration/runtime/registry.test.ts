// Two zone processes in one test process, sharing one control Kv as per-zone processes share
// NATS KV: each one's control API shows the other's listeners and both processes.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { type Endpoint, type ProcessView, type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { MemoryKv } from '../../../src/shardmap/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

async function getJson<T>(base: string, path: string): Promise<T> {
  const r = await request(`${base}${path}`);
  assert.equal(r.statusCode, 200, path);
  return (await r.body.json()) as T;
}

describe('runtime: the process registry in the shared control Kv', () => {
  const kv = new MemoryKv();
  const running: RunningCluster[] = [];
  after(async () => {
    for (const c of running) await c.close();
    await kv.close();
  });
  const topology = parseTopology(
    testTopologyYaml({ roles: ['app', 'router'], loopbackPerZone: true, extra: 'health: { enabled: false }\n' }),
    'registry-test.yaml',
  );
  const start = async (zone: string) => {
    const c = await startCluster({
      topology,
      zones: [zone],
      kv,
      secret: Buffer.alloc(32, 5), // a process running some zones shares the cluster's secret
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
    });
    running.push(c);
    return { c, base: `http://127.0.0.1:${c.control.port}` };
  };

  it('each control API lists the other process’s listeners and both processes; a closed one disappears; a stale one is shown dead', async () => {
    const a = await start('sh-a');
    const b = await start('sh-b');
    const idA = a.c.registry.id;
    const idB = b.c.registry.id;
    assert.notEqual(idA, idB);

    for (const [here, other, otherZone, otherId] of [
      [a, b, 'sh-b', idB],
      [b, a, 'sh-a', idA],
    ] as const) {
      const { endpoints } = await getJson<{ endpoints: Endpoint[] }>(here.base, '/api/endpoints');
      const router = other.c.listeners.find((l) => l.role === 'router')!;
      assert.deepEqual(
        endpoints.find((e) => e.role === 'router' && e.zone === otherZone),
        { ...router, process: otherId },
        `${here.base} lists ${otherZone}'s router`,
      );
      const ctl = endpoints.find((e) => e.role === 'control' && e.process === otherId);
      assert.deepEqual(ctl?.zones, [otherZone]);
      assert.equal(ctl?.port, other.c.control.port);
      // own listeners first, in the order they started, with the old fields unchanged
      assert.deepEqual(
        endpoints.slice(0, here.c.listeners.length).map(({ process: _, zones: __, ...l }) => l),
        here.c.listeners,
      );

      const { processes } = await getJson<{ processes: ProcessView[] }>(here.base, '/api/cluster');
      assert.deepEqual(
        processes.map((p) => [p.id, p.alive, p.here]),
        [
          [here.c.registry.id, true, true],
          [otherId, true, false],
        ],
      );
      const them = processes[1]!;
      assert.deepEqual(them.zones, [otherZone]);
      assert.equal(them.control, `http://127.0.0.1:${other.c.control.port}`);
      assert.equal(them.pid, process.pid);
      // its zone's links to the three other zones (the in-process log reaches none of them here)
      assert.deepEqual(them.links.map((l) => `${l.from}>${l.to}`).sort(), [
        `${otherZone}>bj-a`,
        `${otherZone}>gz-a`,
        `${otherZone}>${otherZone === 'sh-a' ? 'sh-b' : 'sh-a'}`,
      ]);
    }

    // a process that stopped refreshing (killed): listed, dead, its listeners left out
    const wall = a.c.services.clock.wallTime();
    const dead = {
      id: 'gz-a_dead',
      zones: ['gz-a'],
      control: 'http://127.0.0.1:1',
      pid: 1,
      hostname: 'gone',
      startedAt: wall - 120_000,
      at: wall - 60_000,
      listeners: [{ zone: 'gz-a', role: 'router', protocol: 'http', host: '127.0.4.1', port: 1 }],
      links: [],
    };
    await kv.put('cluster.proc.gz-a_dead', JSON.stringify(dead));
    const withDead = await getJson<{ processes: ProcessView[] }>(a.base, '/api/cluster');
    assert.deepEqual(
      withDead.processes.map((p) => [p.id, p.alive]),
      [
        [idA, true],
        [idB, true],
        ['gz-a_dead', false],
      ],
    );
    const eps = await getJson<{ endpoints: Endpoint[] }>(a.base, '/api/endpoints');
    assert.equal(
      eps.endpoints.some((e) => e.zone === 'gz-a'),
      false,
      'a dead process’s listeners are not endpoints',
    );

    // b closes cleanly: its record is gone at once
    await b.c.close();
    running.splice(running.indexOf(b.c), 1);
    assert.equal(await kv.get(`cluster.proc.${idB}`), null);
    const after = await getJson<{ processes: ProcessView[] }>(a.base, '/api/cluster');
    assert.deepEqual(
      after.processes.map((p) => p.id),
      [idA, 'gz-a_dead'],
    );
    const left = await getJson<{ endpoints: Endpoint[] }>(a.base, '/api/endpoints');
    assert.deepEqual([...new Set(left.endpoints.map((e) => e.process))], [idA]);
  });
});
