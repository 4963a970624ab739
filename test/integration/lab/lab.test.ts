// The lab end to end: `multizone lab up --detach` builds four zones in network namespaces
// (PostgreSQL, Redis, a zone process each; a 3-server NATS cluster behind delay proxies), a
// sigkill and a partition drill of one non-core zone lose and misroute nothing and recover, a
// NATS server's death loses and fails nothing, two zones killed at once leave DNS and HTTPDNS
// within the health bound, a restart of every zone process leaves the shard map as it was,
// and `lab down` leaves no namespace, device, route or process behind. Needs root, Linux and
// the binaries: skips with a message without them, fails when CI=true.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DrillReport } from '../../../src/drill/index.ts';
import {
  anycastAvailable,
  LAB_ANYCAST,
  type LabOutageReport,
  type LabRestartReport,
  labLayout,
  preflight,
} from '../../../src/lab/index.ts';
import { run } from '../../../src/lab/netns.ts';

const ZONE = 'gz-a';

/** Runs the CLI; resolves with its exit code and output. */
function cli(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    // the lab's zone processes inherit the environment: cheaper password hashing, as every other
    // accounts test uses — at scrypt's default cost a loaded CI host queued registrations past
    // the lab's 1.5 s router timeout for the whole 60 s the drill's setup retries them (twice)
    const p = spawn(process.execPath, ['bin/multizone.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MZ_ACCOUNTS_SCRYPT_N: '1024' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** Why the lab cannot run here, or undefined when it can. */
function missing(): string | undefined {
  try {
    preflight();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Pids whose command line mentions the lab's folder. */
function processesOf(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(dir)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('lab: up, sigkill, partition and NATS-kill drills, two zones down, a full restart, down', {
  timeout: 1_200_000,
}, () => {
  let dir = '';
  let why: string | undefined;
  let passed = false;
  before(() => {
    why = missing();
    if (why && process.env.CI === 'true') throw new Error(`the lab cannot run and CI=true: ${why}`);
    if (why) console.log(`# skipping the lab test: ${why}`);
    else dir = mkdtempSync(join(tmpdir(), 'mz-lab-'));
  });
  after(async () => {
    if (!dir) return;
    // a failure in CI leaves only this output: the end of every zone's log goes with it
    if (!passed && existsSync(join(dir, 'logs')))
      for (const f of readdirSync(join(dir, 'logs')).filter((n) => n.startsWith('zone'))) {
        const lines = readFileSync(join(dir, 'logs', f), 'utf8')
          .trimEnd()
          .split('\n')
          .slice(-25);
        console.log(`# --- ${f} (last ${lines.length} lines)\n${lines.map((l) => `# ${l.slice(0, 400)}`).join('\n')}`);
      }
    await cli(['lab', 'down', '--dir', dir], 60_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('lab: drills lose and misroute nothing, and down removes everything', { timeout: 1_200_000 }, async (t) => {
    if (why) return t.skip(why);
    // what a lab killed with its host session leaves: a namespace nothing runs in and the route
    await run('ip', ['netns', 'add', 'mzlab-stale']);
    await run('ip', ['route', 'add', 'prohibit', labLayout().guard], { allowFail: true });
    const up = await cli(['lab', 'up', '--dir', dir, '--detach', '--delay-ms', '2'], 150_000);
    assert.equal(up.code, 0, `lab up: ${up.err}\n${up.out}`);
    assert.match(
      up.err,
      /removing a stale lab's leftovers \(no process runs in them\): .*namespace mzlab-stale/,
      up.err,
    );
    assert.match(up.out, /lab ready: .*gz-a http:\/\/10\.77\.0\.14:7070/);
    // with BIRD: every zone announces 10.77.9.53 to the lab's router, the client reaches the nearest (sh-a)
    const anycast = anycastAvailable();
    if (anycast)
      assert.match(up.err, /anycast: 10\.77\.9\.53 answered by sh-a \(router mzlab-rt holds 4 routes/, up.err);

    for (const fault of ['sigkill', 'partition']) {
      const args = ['lab', 'drill', '--dir', dir, '--zone', ZONE, '--fault', fault, '--duration', '12', '--rps', '20'];
      // conflicts are counted and allowed, by design: a partition's cut zone acknowledges until
      // its lease ends; a killed zone may have committed a write it never acknowledged (the
      // client saw a 502 or a reset and wrote again at the new owner) and ships it on return —
      // seen once in CI: 2 such requests, 1 record locked with 3 writes, 0 lost
      const allow = ['--allow-conflicts'];
      // 240 s: a loaded host (a CI run beside other suites) can take a minute over the setup's
      // registrations alone (password hashing behind the lab's 1.5 s router timeout, retried)
      const d = await cli([...args, '--users', '40', ...allow, '--json'], 240_000);
      assert.ok(d.out.trim().startsWith('['), `lab drill ${fault} printed no reports (exit ${d.code}): ${d.err}`);
      const [r] = JSON.parse(d.out) as DrillReport[];
      const summary = `${fault}: ${JSON.stringify({ ...r, perSecond: undefined })}`;
      assert.equal(r!.lost, 0, summary);
      assert.equal(r!.misrouted.writes, 0, summary);
      assert.ok(
        r!.unshipped && r!.conflicts && r!.after,
        `the report has RPO, conflicts and the cluster after: ${summary}`,
      );
      assert.notEqual(r!.rtoMs, null, summary);
      assert.ok(Object.values(r!.moved).reduce((a, b) => a + b, 0) > 0, `the zone's shards moved: ${summary}`);
      // the router dropped the zone's anycast route (its BIRD died with it, or its session's hold time ran out)
      if (anycast) assert.ok(r!.anycast && r!.anycast.withdrawnMs !== null, `anycast withdrawn: ${summary}`);
      assert.equal(d.code, 0, summary);
    }

    // a NATS server dies under traffic: the log and the Kv (replicas 3) stay available, nothing is lost
    const nk = await cli(
      [
        'lab',
        'drill',
        '--dir',
        dir,
        '--zone',
        'sh-a',
        '--fault',
        'nats-kill',
        // long enough to see writes come back when the killed server led the Kv's stream: its
        // followers elect a new leader only after NATS's raft election timeout (4-9 s)
        '--duration',
        '25',
        '--rps',
        '20',
      ].concat(['--users', '40', '--json']),
      240_000,
    );
    assert.ok(nk.out.trim().startsWith('['), `lab drill nats-kill printed no reports (exit ${nk.code}): ${nk.err}`);
    const [k] = JSON.parse(nk.out) as DrillReport[];
    const ks = `nats-kill: ${JSON.stringify({ ...k, perSecond: undefined })}`;
    assert.equal(k!.lost, 0, ks);
    // known gap: when the killed server led the Kv's stream, no lease can be renewed until its
    // followers elect a new leader, so zones fence themselves (421/503) for up to ~10 s; they
    // recover, and nothing is lost
    assert.notEqual(k!.rtoMs, null, `writes recovered while a NATS server was down: ${ks}`);
    assert.equal(k!.readBack?.missing, 0, ks);
    assert.deepEqual(k!.moved, {}, `no shard moved for a NATS server: ${ks}`);

    // two zones killed at once: every survivor's DNS and HTTPDNS leave both out within the health bound
    const o = await cli(['lab', 'outage', '--dir', dir, '--zones', 'sh-b,gz-a', '--json'], 180_000);
    assert.ok(o.out.trim().startsWith('{'), `lab outage printed no report (exit ${o.code}): ${o.err}`);
    const out = JSON.parse(o.out) as LabOutageReport;
    const os = `outage: ${o.out}`;
    assert.ok(out.dnsMs !== null && out.dnsMs <= out.boundMs, os);
    assert.ok(out.httpdnsMs !== null && out.httpdnsMs <= out.boundMs, os);
    assert.equal(out.failed, 0, `DNS and HTTPDNS answered every question: ${os}`);
    for (const ip of ['10.77.0.12', '10.77.0.14']) {
      assert.ok(out.before.includes(ip), os);
      assert.ok(!out.after.dns.includes(ip) && !out.after.httpdns.includes(ip), os);
    }
    assert.notEqual(out.backMs, null, `both came back: ${os}`);
    assert.equal(o.code, 0, os);

    // every zone process restarted: the shard map is what it was
    const rs = await cli(['lab', 'restart', '--dir', dir, '--json'], 180_000);
    assert.ok(rs.out.trim().startsWith('{'), `lab restart printed no report (exit ${rs.code}): ${rs.err}`);
    const rr = JSON.parse(rs.out) as LabRestartReport;
    assert.deepEqual(rr.changed, [], `restart: ${rs.out}`);
    assert.equal(rr.globalMoved, false, `restart: ${rs.out}`);
    assert.equal(rs.code, 0, rs.out);

    const down = await cli(['lab', 'down', '--dir', dir], 60_000);
    assert.equal(down.code, 0, down.err);
    const l = labLayout();
    const ns = (await run('ip', ['netns', 'list'])).stdout;
    assert.doesNotMatch(ns, /mzlab-/, 'no lab namespace is left');
    const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
    for (const dev of [l.bridge, ...l.zones.map((z) => z.veth), LAB_ANYCAST.router.veth])
      assert.ok(!links.includes(`${dev}:`), `${dev} is gone`);
    const routes = (await run('ip', ['route', 'show', 'type', 'prohibit'])).stdout;
    assert.ok(!routes.includes(l.guard), 'the prohibit route is gone');
    assert.deepEqual(processesOf(dir), [], 'no lab process is left');
    // down twice is fine
    assert.equal((await cli(['lab', 'down', '--dir', dir], 60_000)).code, 0);
    passed = true;
  });
});
