/** Shared helpers for integration tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTopology, type Topology } from '../../src/topology/index.ts';

const dataDirs: string[] = [];
process.once('exit', () => {
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder for a test cluster's SQLite files (removed when the process exits). */
export function testDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mz-test-data-'));
  dataDirs.push(d);
  return d;
}

/**
 * A four-zone topology like the default, but every listener on 127.0.0.1 port 0 (or the
 * zone's own loopback address when loopbackPerZone) and, unless `extra` has a store:
 * section, the zone stores in a folder of their own, so parallel tests never collide.
 */
export function testTopologyYaml(opts: { roles?: string[]; loopbackPerZone?: boolean; extra?: string } = {}): string {
  const roles = opts.roles ?? ['app'];
  const zones = [
    ['sh-a', 'east', '127.0.1.1', true, '[sh-b, bj-a, gz-a]', '[telecom]'],
    ['sh-b', 'east', '127.0.2.1', false, '[sh-a, gz-a, bj-a]', '[mobile]'],
    ['bj-a', 'north', '127.0.3.1', false, '[sh-a, sh-b, gz-a]', '[unicom]'],
    ['gz-a', 'south', '127.0.4.1', false, '[sh-b, sh-a, bj-a]', '[telecom]'],
  ] as const;
  const zoneYaml = zones
    .map(
      ([n, r, ip, core, backups, isps]) => `  ${n}:
    region: ${r}
    core: ${core}
    backups: ${backups}
    isps: ${isps}
    listen:
${roles.map((role) => `      ${role}: ${opts.loopbackPerZone ? ip : '127.0.0.1'}:0`).join('\n')}`,
    )
    .join('\n');
  return `name: test
apex: shop.test
regions:
  east: {}
  north: {}
  south: {}
zones:
${zoneYaml}
services:
  api.shop.test: { role: ${roles.includes('edge') ? 'edge' : roles[0]}, ttl: 60, policy: nearest }
policies:
  nearest:
    rules:
      - name: north
        provinces: [CN-BJ, CN-TJ, CN-HE]
        zones: [bj-a, [sh-a, sh-b], gz-a]
      - name: south
        provinces: [CN-GD, CN-GX]
        zones: [gz-a, [sh-a, sh-b], bj-a]
    default: [[sh-a, sh-b], bj-a, gz-a]
control:
  listen: 127.0.0.1:0
${/^store:/m.test(opts.extra ?? '') ? '' : `store:\n  dataDir: ${testDataDir()}\n`}${opts.extra ?? ''}`;
}

export function testTopology(opts: Parameters<typeof testTopologyYaml>[0] = {}): Topology {
  return parseTopology(testTopologyYaml(opts), 'test-topology.yaml');
}

/** A port nothing listens on right now (bound on 127.0.0.1 and closed again). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
