import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAccountsAppRole } from '../../../examples/accounts/role.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { seededRandom } from '../../../src/core/random.ts';
import type { AckedWrite } from '../../../src/drill/index.ts';
import { runDrill } from '../../../src/drill/index.ts';
import type { RpoSnapshot } from '../../../src/replication/index.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { descendsFrom, type VersionVector } from '../../../src/store/index.ts';
import { testTopology } from '../../support/net.ts';
import { FAST_FAILOVER_YAML } from '../router/fixture.ts';

const KILLED = 'bj-a';

/** The accounts app's resources (as in the default topology), fast failover, a 1 s WAN, anti-entropy only when the test asks. */
const yaml = (dataDir: string) => `
shards:
  count: 64
  key:
    - header: x-user-id
  mappings:
    session:
      from: [{ cookie: mz_sid }, { header: x-session-id }]
      pattern: '^(?<zone>[a-z][a-z0-9-]*)\\.'
resources:
  accounts: { class: global, paths: [/api/accounts, /api/register], unique: true }
  profiles: { class: sharded, paths: [/api/profiles], freshness: minutes }
  comments: { class: sharded, paths: [/api/comments], freshness: eventual }
  sessions: { class: local, paths: [/api/sessions], key: session, regenerable: true, lossTolerant: true }
health: { enabled: false }
store:
  dataDir: ${dataDir}
replication:
  pollMs: 20
  antiEntropyMs: 0
  wan: { delayMs: 1000 }
${FAST_FAILOVER_YAML}`;

const vvKey = (vv: VersionVector) =>
  Object.entries(vv)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([z, n]) => `${z}:${n}`)
    .join(',');
const commentKey = (userId: string, id: { n: number; zone: string }) =>
  `${userId}/${String(id.n).padStart(12, '0')}.${id.zone}`;

describe('failover: the drill drives the accounts app', () => {
  let dir: string;
  let c: RunningCluster;
  let data: RunningCluster['services']['data'];
  /** Ground truth at the fault, from the stores' records (not the replication cursors). */
  let truth: { count: number; unreplicated: Set<string> } | undefined;
  let snapshot: RpoSnapshot | undefined;
  /** Snapshot writes some other zone lacked at the fault but had before the zone returned (a dead zone's store leaked). */
  let leaked: number | undefined;
  /** `zone|write` for each other zone that lacked the write at the fault (the three apply one batch at slightly different moments). */
  const lackedAtFault = new Set<string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mz-drill-accounts-'));
    const topology = testTopology({ roles: ['app', 'router'], extra: yaml(join(dir, 'data')) });
    c = await startCluster({
      topology,
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
      app: createAccountsAppRole({ scryptN: 1024 }),
    });
    data = c.services.data;
    // at the fault, look at every replicated write the killed zone's store holds and ask each
    // other zone's store whether its record descends from it
    const failZone = data.outage.failZone.bind(data.outage);
    data.outage.failZone = async (zone, whileDown) => {
      const snap = await failZone(zone, whileDown);
      const store = data.stores.get(zone)!;
      const peers = [...data.stores].filter(([z]) => z !== zone).map(([, s]) => s);
      const unreplicated = new Set<string>();
      for (let after = 0; ; ) {
        const page = await store.changesAfter(after, 1000);
        if (!page.length) break;
        after = page.at(-1)!.seq;
        for (const ch of page) {
          // a write that straggled in after the snapshot was never acknowledged before the fault
          if (ch.cls === 'local' || ch.time > snap.at) continue;
          let everywhere = true;
          for (const p of peers)
            if (!descendsFrom(ch.vv, (await p.state(ch.resource, ch.key))?.vv)) {
              everywhere = false;
              lackedAtFault.add(`${p.zone}|${ch.resource}/${ch.key}/${vvKey(ch.vv)}`);
            }
          if (!everywhere) unreplicated.add(`${ch.resource}/${ch.key}/${vvKey(ch.vv)}`);
        }
      }
      truth = { count: unreplicated.size, unreplicated };
      snapshot = snap;
      return snap;
    };
    // just before the zone returns: an anti-entropy pass now must not reach the dead zone's store
    const restoreZone = data.outage.restoreZone.bind(data.outage);
    data.outage.restoreZone = async (zone, snap, timeoutMs) => {
      await data.replication.antiEntropy();
      const peers = [...data.stores].filter(([z]) => z !== zone).map(([, st]) => st);
      leaked = 0;
      for (const w of snap.pending)
        for (const p of peers)
          if (
            lackedAtFault.has(`${p.zone}|${w.resource}/${w.key}/${vvKey(w.vv)}`) &&
            descendsFrom(w.vv, (await p.state(w.resource, w.key))?.vv)
          ) {
            leaked++;
            break;
          }
      return restoreZone(zone, snap, timeoutMs);
    };
  });
  after(async () => {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('failover: kill + restore under the accounts workload: RPO counts the unreplicated acknowledged writes, none is lost', async (t) => {
    const acks: AckedWrite[] = [];
    const control = `http://${c.control.host}:${c.control.port}`;
    const r = await runDrill({
      control,
      zone: KILLED,
      mode: 'kill',
      rps: 100,
      durationS: 6,
      consistency: 'fenced',
      writes: 0.6,
      users: 40,
      restore: true,
      failback: false,
      readBackTimeoutMs: 30_000,
      clock: systemClock,
      random: seededRandom(11),
      onAck: (w) => acks.push(w),
    });
    t.diagnostic(
      `users ${JSON.stringify(r.users)} requests ${JSON.stringify(r.requests)} moved ${JSON.stringify(r.moved)}; RPO ${r.rpo}; WRT ${r.wrt}; RTO ${r.rtoMs} ms; read back ${JSON.stringify({ ...r.readBack, examples: undefined })}; errors ${JSON.stringify(r.errors)}`,
    );
    assert.equal(r.workload, 'accounts');
    assert.ok(r.users.affected > 0, 'some users live in the killed zone');
    assert.equal(r.misrouted.writes, 0);
    assert.ok(truth && snapshot, 'the kill went through the data part');

    // RPO: the data plane's count is exactly the writes no (or not every) other zone had at the fault
    assert.equal(snapshot.count, truth.count);
    assert.equal(r.data?.rpo.count, truth.count);
    const pending = new Set(snapshot.pending.map((p) => `${p.resource}/${p.key}/${vvKey(p.vv)}`));
    assert.deepEqual([...pending].sort(), [...truth.unreplicated].sort());
    // and the WAN delay makes it visible: writes the drill got a 2xx for from the killed zone were among them
    const ackedUnreplicated = acks.filter((w) => {
      if (w.zone !== KILLED) return false;
      const key =
        w.resource === 'profiles' ? `profiles/${w.key}/${vvKey(w.vv!)}` : `comments/${commentKey(w.key, w.id!)}/`;
      return [...truth!.unreplicated].some((u) => (w.resource === 'profiles' ? u === key : u.startsWith(key)));
    });
    assert.ok(ackedUnreplicated.length > 0, `no acknowledged write was unreplicated at the fault (RPO ${truth.count})`);
    assert.ok(ackedUnreplicated.length <= truth.count);
    assert.ok((r.data?.rpo.windowMs ?? 0) > 0);

    // the dead zone's store was out of reach until it returned: no other zone got them early
    assert.equal(leaked, 0);

    // WRT: every one of them applied or locked everywhere after the return
    assert.equal(typeof r.data?.wrtMs, 'number');
    assert.equal(r.data?.lost, 0);
    assert.equal((r.data?.applied ?? 0) + (r.data?.locked ?? 0), truth.count);

    // lost writes: the drill's own read-back found every 2xx write in all four zones
    assert.equal(r.readBack?.acknowledged, acks.length);
    assert.equal(r.readBack?.zones.length, 4);
    assert.equal(r.readBack?.missing, 0);
    assert.equal(r.lost, 0);
    assert.ok((r.readBack?.comments ?? 0) > 0, 'some comments were written');
  });
  it('failover: a drill on a zone that owns no shards is refused (nothing would be tested)', async () => {
    // the kill drill above left bj-a failed over (no failback)
    const control = `http://${c.control.host}:${c.control.port}`;
    await assert.rejects(
      runDrill({
        control,
        zone: KILLED,
        mode: 'kill',
        rps: 50,
        durationS: 4,
        consistency: 'fenced',
        writes: 0.5,
        users: 10,
        restore: true,
        failback: false,
        clock: systemClock,
        random: seededRandom(12),
      }),
      { code: 'ERR_FAILOVER_DRILL', message: /owns no shards.*failback --zone bj-a/ },
    );
    const r = await fetch(`${control}/api/failback`, { method: 'POST', body: JSON.stringify({ zone: KILLED }) });
    assert.equal(r.status, 200, await r.text());
  });

  it('failover: a partition drill counts what the cut zone acknowledged after the cut in the RPO, and the conflicts it opened', async (t) => {
    const acks: AckedWrite[] = [];
    const control = `http://${c.control.host}:${c.control.port}`;
    const r = await runDrill({
      control,
      zone: KILLED,
      mode: 'partition',
      rps: 100,
      durationS: 6,
      consistency: 'fenced',
      writes: 0.6,
      users: 40,
      restore: true,
      failback: true,
      readBackTimeoutMs: 30_000,
      clock: systemClock,
      random: seededRandom(13),
      onAck: (w) => acks.push(w),
    });
    t.diagnostic(`RPO ${r.rpo}; conflicts ${JSON.stringify(r.conflicts)}; after ${JSON.stringify(r.after)}`);
    assert.ok(r.faultAt !== null && r.unshipped && r.conflicts && r.after);
    // cut off from the log, the zone could ship nothing it acknowledged after the cut
    const afterCut = acks.filter((w) => w.zone === KILLED && w.at >= r.faultAt!).length;
    assert.equal(r.unshipped.afterCut, afterCut);
    assert.ok(r.unshipped.count >= afterCut);
    assert.equal(r.misrouted.writes, 0);
    assert.equal(r.lost, 0);
    // conflicts the drill opened fail it (no allowConflicts)
    assert.equal(r.conflicts.allowed, false);
    if (r.conflicts.opened > 0) assert.equal(r.goal.met, false);
    // failed back: every shard home, and the report shows the cluster so
    assert.equal(r.restore?.failback?.error, undefined);
    assert.ok((r.after.shards[KILLED] ?? 0) > 0);
    assert.equal(
      Object.values(r.after.shards).reduce((a, b) => a + b, 0),
      64,
    );
  });
});
