import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { createHealthChecker, healthErrors, type ProbeFn, shareVotes } from '../../../src/health/index.ts';
import { type Kv, MemoryKv, PartitionableKv } from '../../../src/shardmap/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';

// Distributed mode, one process per zone: shared votes must expire by the time they were
// cast, not by the time a process happened to read them (attach, re-delivery, healed partition).

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
const INTERVAL = 1000;
/** The default stale bound: 3 republish periods of 5 intervals. */
const STALE = 15 * INTERVAL;
// the default quorum (a majority): it counts over the live probers, so once the dead processes'
// votes have aged out the two survivors' majority is two, not three of four that never come
const topology = parseTopology(`apex: shop.test
regions: { r: {} }
zones:
${ZONES.map((z, i) => `  ${z}: { region: r, core: ${i === 0}, listen: { router: 127.0.${i + 1}.1:20081 } }`).join('\n')}
services:
  api.shop.test: { role: router }
policies:
  nearest: { default: [sh-a, sh-b, bj-a, gz-a] }
health: { intervalMs: ${INTERVAL}, timeoutMs: 500, rise: 2, fall: 3 }
`);

function world() {
  const clock = new ManualClock();
  const dead = new Set<string>();
  const probe: ProbeFn = async (req) => {
    if (dead.has(req.target.id)) throw healthErrors.ERR_HEALTH_PROBE_CONNECT('refused');
  };
  const kv = new MemoryKv();
  /** One process running `zone`'s prober, sharing votes through its own handle on the Kv. */
  const proc = (zone: string) => {
    const handle = new PartitionableKv(kv, zone);
    const checker = createHealthChecker({
      topology,
      clock,
      probe,
      probers: [zone],
      remoteProbers: ZONES.filter((z) => z !== zone),
    });
    const unshare = shareVotes({
      checker,
      kv: handle,
      localZones: [zone],
      clock,
      intervalMs: INTERVAL,
      logger: silentLogger,
    });
    checker.start();
    return {
      checker,
      handle,
      /** What SIGKILL leaves behind: nothing runs any more, the votes stay in the Kv. */
      async kill() {
        unshare();
        await checker.stop();
      },
      state: (endpointId: string, prober: string) => checker.verdict(endpointId)!.votes[prober]!.state,
    };
  };
  return { clock, dead, kv, proc };
}

const voteKey = (prober: string, endpointId: string) => `health.vote.${prober}.${endpointId.replace('/', '.')}`;

describe('health: shared votes expire by the time they were cast', () => {
  it('two of four processes die: their last "up" votes age out, and a process started later never counts them', async () => {
    const { clock, dead, kv, proc } = world();
    const [a, b, c, d] = ZONES.map(proc) as [
      ReturnType<typeof proc>,
      ReturnType<typeof proc>,
      ReturnType<typeof proc>,
      ReturnType<typeof proc>,
    ];
    await clock.advanceAsync(8 * INTERVAL, 10);
    assert.deepEqual(
      ZONES.map((p) => a.state('gz-a/router', p)),
      ['up', 'up', 'up', 'up'],
    );

    // sh-b and gz-a are SIGKILLed: their routers and their health processes are gone
    await b.kill();
    await d.kill();
    dead.add('sh-b/router');
    dead.add('gz-a/router');
    await clock.advanceAsync(4 * INTERVAL, 10);
    for (const p of [a, c]) {
      assert.equal(p.state('gz-a/router', p === a ? 'sh-a' : 'bj-a'), 'down');
      // the dead processes' last votes are still within the stale bound: 2 up, 2 down, a tie
      assert.equal(p.checker.zoneUp('gz-a'), true);
    }

    // within the stale bound (counted from the death) the old "up" votes stop counting
    await clock.advanceAsync(STALE - 4 * INTERVAL + 2 * INTERVAL, 10);
    for (const p of [a, c]) {
      for (const z of ['sh-b', 'gz-a']) {
        assert.equal(p.state(`${z}/router`, 'sh-b'), 'unknown');
        assert.equal(p.state(`${z}/router`, 'gz-a'), 'unknown');
        assert.equal(p.checker.zoneUp(z), false, `${z} down`);
      }
      assert.equal(p.checker.zoneUp('sh-a'), true);
      assert.equal(p.checker.zoneUp('bj-a'), true);
    }

    // a healed partition replays the Kv to the watch: the old votes must not come back
    a.handle.setIsolated(true);
    await clock.advanceAsync(10, 10);
    a.handle.setIsolated(false);
    await clock.advanceAsync(100, 10);
    assert.equal(a.state('gz-a/router', 'gz-a'), 'unknown');
    assert.equal(a.state('gz-a/router', 'sh-b'), 'unknown');
    assert.equal(a.checker.zoneUp('gz-a'), false);

    // bj-a's health process restarts now and reads the Kv: the dead processes' votes are there, and old
    await c.kill();
    assert.ok((await kv.keys('health.vote.')).includes(voteKey('gz-a', 'gz-a/router')));
    const c2 = proc('bj-a');
    await clock.advanceAsync(100, 10);
    for (const z of ['sh-b', 'gz-a']) {
      assert.equal(c2.state(`${z}/router`, 'sh-b'), 'unknown', `sh-b's old vote on ${z}`);
      assert.equal(c2.state(`${z}/router`, 'gz-a'), 'unknown', `gz-a's old vote on ${z}`);
      assert.equal(c2.state(`${z}/router`, 'sh-a'), 'down', `sh-a's live vote on ${z}`);
    }
    // once its own prober has seen the failures (fall = 3), the two live votes decide
    await clock.advanceAsync(4 * INTERVAL, 10);
    assert.equal(c2.checker.zoneUp('gz-a'), false);
    assert.equal(c2.checker.zoneUp('sh-b'), false);
    assert.equal(c2.checker.zoneUp('sh-a'), true);
    assert.equal(c2.checker.zoneUp('bj-a'), true);

    await a.kill();
    await c2.kill();
    await kv.close();
  });

  it('a replayed old vote does not refresh the one held, and a legacy bare value is ignored', async () => {
    const { clock, kv, proc } = world();
    const put = (k: Kv, prober: string, endpointId: string, value: string) => k.put(voteKey(prober, endpointId), value);
    // legacy values (no cast time) in the Kv before the process starts
    await put(kv, 'gz-a', 'sh-a/router', 'up');
    await put(kv, 'bj-a', 'sh-a/router', 'down');
    const a = proc('sh-a');
    await clock.advanceAsync(100, 10);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'unknown');
    assert.equal(a.state('sh-a/router', 'bj-a'), 'unknown');
    // … or arriving through the watch
    await put(kv, 'gz-a', 'sh-a/router', 'down');
    await clock.advanceAsync(10, 10);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'unknown');

    // a vote cast now counts; the same vote replayed later, or an older one, does not refresh it
    const cast = clock.wallTime();
    const vote = (s: string, at: number) => JSON.stringify({ s, at });
    await put(kv, 'gz-a', 'sh-a/router', vote('down', cast));
    await clock.advanceAsync(10, 10);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'down');
    await put(kv, 'gz-a', 'sh-a/router', vote('up', cast - INTERVAL));
    await clock.advanceAsync(10, 10);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'down', 'an older vote is ignored');
    await clock.advanceAsync(STALE + 2 * INTERVAL, 100);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'unknown', 'stale');
    await put(kv, 'gz-a', 'sh-a/router', vote('down', cast));
    await clock.advanceAsync(10, 10);
    assert.equal(a.state('sh-a/router', 'gz-a'), 'unknown', 'the replayed vote is still stale');

    await a.kill();
    await kv.close();
  });
});

describe('health: a process cut off from the control Kv', () => {
  it('ages out elsewhere, decides nothing while cut off (verdicts hold), and warns once per streak', async () => {
    const { clock, kv, proc } = world();
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const warnings = () => lines.filter((l) => l.level === 40 && /cannot be reached/.test(l.msg)).length;
    const a = proc('sh-a');
    // sh-b's process, with a logger we read
    const handle = new PartitionableKv(kv, 'sh-b');
    // what sh-b's own prober sees: in its isolation gz-a does not answer it either
    const unreachable = new Set<string>();
    const checker = createHealthChecker({
      topology,
      clock,
      probe: async (req) => {
        if (unreachable.has(req.target.id)) throw healthErrors.ERR_HEALTH_PROBE_CONNECT('unreachable');
      },
      probers: ['sh-b'],
      remoteProbers: ZONES.filter((z) => z !== 'sh-b'),
    });
    const unshare = shareVotes({ checker, kv: handle, localZones: ['sh-b'], clock, intervalMs: INTERVAL, logger });
    checker.start();
    await clock.advanceAsync(6 * INTERVAL, 10);
    assert.equal(a.state('gz-a/router', 'sh-b'), 'up');
    assert.equal(checker.verdict('gz-a/router')!.votes['sh-a']!.state, 'up');

    handle.setIsolated(true);
    await clock.advanceAsync(STALE - INTERVAL, 10);
    assert.equal(warnings(), 0, 'not yet longer than the stale bound');
    await clock.advanceAsync(3 * INTERVAL, 10);
    // elsewhere sh-b's votes have aged out; here only the local prober still votes
    assert.equal(a.state('gz-a/router', 'sh-b'), 'unknown');
    assert.deepEqual(
      Object.values(checker.verdict('gz-a/router')!.votes).map((v) => v.state),
      ['up', 'unknown', 'unknown', 'unknown'],
    );
    await clock.advanceAsync(STALE, 100);
    assert.equal(warnings(), 1, 'once per streak');
    // cut off, its one live prober would be a majority of one: it must not decide alone
    unreachable.add('gz-a/router');
    await clock.advanceAsync(5 * INTERVAL, 100);
    assert.equal(checker.verdict('gz-a/router')!.votes['sh-b']!.state, 'down');
    assert.equal(checker.zoneUp('gz-a'), true, 'a prober cut off from the Kv decides nothing');
    unreachable.delete('gz-a/router');

    handle.setIsolated(false);
    await clock.advanceAsync(6 * INTERVAL, 10);
    assert.equal(a.state('gz-a/router', 'sh-b'), 'up');
    assert.equal(checker.verdict('gz-a/router')!.votes['sh-a']!.state, 'up');
    assert.ok(lines.some((l) => l.level === 30 && /answers again/.test(l.msg)));
    handle.setIsolated(true);
    await clock.advanceAsync(2 * STALE, 100);
    assert.equal(warnings(), 2, 'a new streak warns again');

    unshare();
    await checker.stop();
    await a.kill();
    await kv.close();
  });
});
