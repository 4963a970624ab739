/**
 * The console's charts in distributed mode: two zone processes in one test process share one
 * control Kv (as per-zone processes share NATS KV); each one's console history merges the
 * other's own samples (GET /api/console/sample), so either control API charts every zone.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { MemoryKv } from '../../../src/shardmap/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

interface Sample {
  t: number;
  links: Record<string, [number, number]>;
  zones: Record<string, { rps: number }>;
}

describe('control: the console across zone processes', () => {
  const kv = new MemoryKv();
  const running: RunningCluster[] = [];
  after(async () => {
    for (const c of running) await c.close();
    await kv.close();
  });
  const topology = parseTopology(
    testTopologyYaml({ roles: ['app', 'router'], loopbackPerZone: true, extra: 'health: { enabled: false }\n' }),
    'console-distributed-test.yaml',
  );
  const start = async (zones: string[]) => {
    const c = await startCluster({
      topology,
      zones,
      kv,
      secret: Buffer.alloc(32, 5),
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
    });
    running.push(c);
    return c;
  };

  it('console: either process’s history has every zone’s traffic and links, its own and the other’s', async () => {
    const a = await start(['sh-a', 'sh-b']);
    const b = await start(['bj-a', 'gz-a']);
    const base = `http://127.0.0.1:${a.control.port}`;
    const routers = [...a.listeners, ...b.listeners].filter((l) => l.role === 'router');
    assert.equal(routers.length, 4);
    let last: Sample | undefined;
    for (let i = 0; i < 150; i++) {
      // traffic into every zone's router, so each zone has a rate
      await Promise.all(
        routers.map(async (l) => {
          const r = await request(`http://${l.host}:${l.port}/api/x`, { headers: { 'x-user-id': String(i) } });
          await r.body.dump();
        }),
      );
      const r = await request(`${base}/api/snapshot`);
      const j = (await r.body.json()) as { history: Sample[] };
      last = j.history.at(-1);
      const zones = Object.keys(last?.zones ?? {});
      const origins = new Set(Object.keys(last?.links ?? {}).map((k) => k.split('>')[0]));
      if (['sh-a', 'sh-b', 'bj-a', 'gz-a'].every((z) => zones.includes(z) && origins.has(z))) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.fail(`the history never covered every zone: ${JSON.stringify(last)}`);
  });
});
