import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { createHealthChecker, healthErrors, type ProbeFn, shareVotes } from '../../../src/health/index.ts';
import { MemoryKv, PartitionableKv } from '../../../src/shardmap/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const topology = parseTopology(`apex: shop.test
regions: { r: {} }
zones:
${ZONES.map((z, i) => `  ${z}: { region: r, core: ${i === 0}, listen: { router: 127.0.${i + 1}.1:20081 } }`).join('\n')}
services:
  api.shop.test: { role: router }
policies:
  nearest: { default: [sh-a, sh-b, bj-a, gz-a] }
health: { intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 }
`);

it('health: two processes running half the zones each share votes through the control Kv and agree', async () => {
  const clock = new ManualClock();
  const dead = new Set<string>();
  const probe: ProbeFn = async (req) => {
    if (dead.has(req.target.id)) throw healthErrors.ERR_HEALTH_PROBE_CONNECT('refused');
  };
  const kv = new MemoryKv();
  const halves = [
    ['sh-a', 'sh-b'],
    ['bj-a', 'gz-a'],
  ];
  const procs = halves.map((local) => {
    const checker = createHealthChecker({
      topology,
      clock,
      probe,
      probers: local,
      remoteProbers: ZONES.filter((z) => !local.includes(z)),
    });
    // the control Kv cannot be reached at first: shareVotes must keep trying to attach
    const handle = new PartitionableKv(kv, local[0]!);
    handle.setIsolated(true);
    const unshare = shareVotes({
      checker,
      kv: handle,
      localZones: local,
      clock,
      intervalMs: 1000,
      logger: silentLogger,
    });
    checker.start();
    return { checker, unshare, ready: () => handle.setIsolated(false) };
  });
  await clock.advanceAsync(2000, 10);
  for (const p of procs) p.ready();
  await clock.advanceAsync(3000, 10);
  assert.deepEqual(
    Object.values(procs[0]!.checker.verdict('gz-a/router')!.votes).map((v) => v.state),
    ['up', 'up', 'up', 'up'],
  );
  assert.ok((await kv.keys('health.vote.')).includes('health.vote.bj-a.gz-a.router'));

  dead.add('gz-a/router');
  await clock.advanceAsync(4000, 10);
  for (const p of procs) {
    assert.equal(p.checker.zoneUp('gz-a'), false);
    assert.equal(p.checker.zoneUp('sh-a'), true);
  }

  // the second process goes away: its votes stop counting once stale (15 intervals)
  procs[1]!.unshare();
  await procs[1]!.checker.stop();
  dead.delete('gz-a/router');
  await clock.advanceAsync(4000, 10);
  // two local "up" votes of four are no quorum yet: still down
  assert.equal(procs[0]!.checker.zoneUp('gz-a'), false);
  await clock.advanceAsync(16_000, 10);
  assert.equal(procs[0]!.checker.verdict('gz-a/router')!.votes['bj-a']!.state, 'unknown');
  procs[0]!.unshare();
  await procs[0]!.checker.stop();
  await kv.close();
});
