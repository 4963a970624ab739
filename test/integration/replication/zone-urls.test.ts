/**
 * The log and the control Kv are opened once per process: `{zone}` in their URLs names the zone
 * of a one-zone process, and is a config error when several zones share the process. The
 * resolved URLs point at hosts that do not exist (`.invalid`), so the error names what was
 * dialled without any server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import type { ConfigProblem } from '../../../src/core/config.ts';
import { coreErrors, hasCode, isPlatformError } from '../../../src/core/errors.ts';
import { systemRandom } from '../../../src/core/random.ts';
import { openLog, replicationErrors } from '../../../src/replication/index.ts';
import { openControlKv, shardmapErrors } from '../../../src/shardmap/index.ts';
import { parseTopology, type Topology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';

const yaml = testTopologyYaml({
  extra: `replication:
  log: jetstream
  nats:
    url: nats://{zone}.invalid:4222
failover:
  kv:
    type: nats
    url: nats://{zone_}.invalid:4222
`,
});
const topology = parseTopology(yaml, 'zone-urls.yaml');
const lineOf = (text: string) => yaml.split('\n').findIndex((l) => l.includes(text)) + 1;

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.fail('expected it to fail');
}

const log = (t: Topology, zones?: string[]) =>
  openLog({ topology: t, clock: systemClock, random: systemRandom(), ...(zones ? { zones } : {}) });

test('openLog: {zone} in replication.nats.url names the one zone the process runs', async () => {
  const e = await failure(log(topology, ['sh-b']));
  assert.ok(hasCode(e, replicationErrors.ERR_REPL_LOG_UNAVAILABLE), String(e));
  assert.ok(e.message.startsWith(`zone-urls.yaml:${lineOf('{zone}.invalid')}: replication.nats.url: `), e.message);
  assert.ok(e.message.includes('sh-b.invalid:4222'), e.message);
});

test('openControlKv: {zone_} in failover.kv.url names the one zone the process runs', async () => {
  const e = await failure(openControlKv(topology, ['bj-a']));
  assert.ok(hasCode(e, shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE), String(e));
  assert.ok(e.message.startsWith(`zone-urls.yaml:${lineOf('{zone_}.invalid')}: failover.kv.url: `), e.message);
  assert.ok(e.message.includes('bj_a.invalid:4222'), e.message);
});

for (const [what, open, path] of [
  ['openLog', (zones?: string[]) => log(topology, zones), 'replication.nats.url'],
  ['openControlKv', (zones?: string[]) => openControlKv(topology, zones), 'failover.kv.url'],
] as const)
  test(`${what}: a zone placeholder in ${path} with several zones in the process is ERR_CONFIG_INVALID at the setting`, async () => {
    for (const [zones, named] of [
      [['sh-a', 'sh-b'], 'sh-a, sh-b'],
      [undefined, 'sh-a, sh-b, bj-a, gz-a'], // default: every zone of the topology
    ] as const) {
      const e = await failure(open(zones ? [...zones] : undefined));
      assert.ok(isPlatformError(e) && hasCode(e, coreErrors.ERR_CONFIG_INVALID), String(e));
      const [p] = (e.details?.problems ?? []) as ConfigProblem[];
      assert.equal(p?.path, path);
      assert.equal(p?.line, lineOf(path === 'failover.kv.url' ? '{zone_}.invalid' : '{zone}.invalid'));
      assert.ok(p?.message.includes(`shared by all zones of a process (${named})`), p?.message);
    }
  });
