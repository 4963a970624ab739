import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { drillOutput } from '../../../src/cli/cmd-drill.ts';
import { main } from '../../../src/cli/main.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { commandFault, type DrillReport, runDrill } from '../../../src/drill/index.ts';
import type { RunningCluster } from '../../../src/runtime/index.ts';
import { FAST_FAILOVER_YAML, startRoutingCluster } from '../router/fixture.ts';

describe('failover: the drill against a running cluster', () => {
  let c: RunningCluster;
  let control: string;
  before(async () => {
    c = await startRoutingCluster(FAST_FAILOVER_YAML);
    control = `http://${c.control.host}:${c.control.port}`;
  });
  after(async () => {
    await c.close();
  });

  it('failover: `multizone drill --zone bj-a` kills it, measures RTO, finds no misrouted write, fails back', async () => {
    const out: string[] = [];
    const code = await main(
      [
        'drill',
        '--zone',
        'bj-a',
        '--control',
        control,
        '--duration',
        '6',
        '--rps',
        '120',
        '--users',
        '300',
        '--failback',
        '--json',
      ],
      { out: (s) => out.push(s), err: () => {} },
    );
    const r = JSON.parse(out.join('\n')) as DrillReport;
    assert.equal(r.zone, 'bj-a');
    assert.ok(r.users.affected > 0);
    assert.ok(r.requests.affected > 0);
    assert.ok(Object.keys(r.errors).length > 0, 'a kill with no errors at all: the fault did not happen');
    assert.equal(r.misrouted.writes, 0);
    assert.equal(
      Object.values(r.moved).reduce((a, n) => a + n, 0),
      16,
    );
    // the cluster runs the data plane, so the restore reports RPO, WRT and lost writes
    assert.match(r.rpo, /^\d+ acknowledged writes unshipped, \d+ ms window$/);
    assert.equal(r.lost, 0);
    assert.equal(r.restore?.restored, true);
    assert.equal(r.restore?.failback?.moved, 16);
    assert.equal(c.services.shardmap.map.shardsOf('bj-a').length, 16);
    // the exit code says whether the goals held; the numbers are the report's
    assert.equal(code, r.goal.met ? 0 : 1);
    // with --json stdout is that one line; without it, the tables and no `json:` line
    assert.equal(out.length, 1);
    const human = drillOutput(r, false);
    assert.match(human, /^drill: kill bj-a/m);
    assert.doesNotMatch(human, /^json:/m);
    assert.doesNotMatch(human, /"perSecond"|"misrouted"/);
  });

  it('failover: a partitioned zone keeps its users until it is declared down, with no misrouted write', async () => {
    const r = await runDrill({
      control,
      zone: 'gz-a',
      mode: 'partition',
      rps: 120,
      durationS: 6,
      consistency: 'fenced',
      writes: 0.7,
      users: 300,
      restore: true,
      failback: true,
      clock: systemClock,
      random: seededRandom(7),
    });
    assert.equal(r.mode, 'partition');
    assert.equal(r.misrouted.writes, 0);
    assert.equal(
      Object.values(r.moved).reduce((a, n) => a + n, 0),
      16,
    );
    assert.equal(r.restore?.failback?.moved, 16);
  });

  it('failover: drill usage errors exit 64', async () => {
    const err: string[] = [];
    assert.equal(
      await main(['drill', '--zone', 'bj-a', '--mode', 'nuke'], { out: () => {}, err: (s) => err.push(s) }),
      64,
    );
    assert.equal(await main(['drill'], { out: () => {}, err: (s) => err.push(s) }), 64);
    // a fault command needs a way back, or --no-restore
    assert.equal(
      await main(['drill', '--zone', 'bj-a', '--fault-cmd', 'true'], { out: () => {}, err: (s) => err.push(s) }),
      64,
    );
    assert.match(err.at(-1)!, /--fault-cmd needs --heal-cmd/);
  });

  it("failover: `--fault-cmd`/`--heal-cmd` make the fault with the operator's commands (here curl against the zone's control API)", async () => {
    const out: string[] = [];
    // the commands see the zone in MZ_ZONE; what they do is theirs (kill -9, ip link, ssh …)
    const post = (path: string, body: string) =>
      `curl -sf -X POST ${control}${path} -H 'content-type: application/json' -d "${body}" >/dev/null`;
    const code = await main(
      [
        'drill',
        '--zone',
        'gz-a',
        '--control',
        control,
        '--duration',
        '6',
        '--rps',
        '100',
        '--users',
        '200',
        '--fault-cmd',
        post('/api/drill/kill', '{\\"zone\\":\\"$MZ_ZONE\\",\\"mode\\":\\"$MZ_MODE\\"}'),
        '--heal-cmd',
        post('/api/drill/restore', '{\\"zone\\":\\"$MZ_ZONE\\"}'),
        '--failback',
        '--json',
      ],
      { out: (s) => out.push(s), err: () => {} },
    );
    const r = JSON.parse(out.join('\n')) as DrillReport;
    assert.equal(r.fault, 'external');
    assert.ok(Object.keys(r.errors).length > 0, 'the command made no fault');
    assert.equal(
      Object.values(r.moved).reduce((a, n) => a + n, 0),
      16,
    );
    assert.equal(r.misrouted.writes, 0);
    // the drill measured no data-plane restore (the zone's process was not asked)
    assert.equal(r.data, undefined);
    assert.equal(r.restore?.failback?.moved, 16);
    assert.equal(r.after?.shards['gz-a'], 16);
    assert.equal(code, r.goal.met ? 0 : 1);
  });

  it('failover: a fault command that fails stops the drill with its stderr (ERR_DRILL_COMMAND)', async () => {
    await assert.rejects(
      runDrill({
        control,
        zone: 'sh-b',
        mode: 'kill',
        rps: 50,
        durationS: 4,
        consistency: 'fenced',
        writes: 0.5,
        users: 50,
        external: commandFault('echo "no such host: $MZ_ZONE" >&2; exit 3', 'true', { zone: 'sh-b', mode: 'kill' }),
        restore: true,
        failback: false,
        clock: systemClock,
        random: seededRandom(5),
      }),
      { code: 'ERR_DRILL_COMMAND', message: /exited 3: no such host: sh-b/ },
    );
  });
});
