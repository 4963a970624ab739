// Anycast end to end with real BIRD 2 in network namespaces: an upstream router namespace
// running BIRD peers with two zone namespaces, each running its zone's Announcer with the BIRD
// driver and a DNS server on the anycast address 10.79.9.53; a client namespace reaches that
// address only through the router. The client is answered by zone a (zone b prepends once);
// a SIGKILL of zone a's process takes its BIRD down with it, the router withdraws its route and
// the client is answered by zone b; restarted, zone a announces again after rise; a failing
// health verdict withdraws and comes back; a SIGTERM withdraws while zone a still answers
// locally (withdraw first, then close). Times are printed, never asserted.
//
// Own names (namespaces `mzany-<pid>-*`, subnet 10.79.0.0/16 made `prohibit` in the root
// namespace first), bounded in time, cleaned up after itself even on failure. Needs root, Linux,
// bird, birdc, ip and dig: skips with a message without them, fails when CI=true.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../../src/core/clock.ts';
import { alive, killGroup, nsPids, run } from '../../../src/lab/netns.ts';
import type { AnycastConfig } from '../../../src/topology/index.ts';
import { answeredAt, netnsMissing, pollUntil } from './netns-support.ts';

const GUARD = '10.79.0.0/16';
const ANYCAST = '10.79.9.53';
const TAG = `mzany-${process.pid % 100_000}`;
const NS = { rt: `${TAG}-rt`, a: `${TAG}-a`, b: `${TAG}-b`, cl: `${TAG}-cl` };
/** Zone → its link to the router: the router's end (.1) and the zone's (.2). */
const LINKS = { a: 1, b: 2, cl: 3 } as const;
const HELPER = resolve('test/integration/anycast/zone-speaker.ts');
const TS = resolve('bin/ts.mjs');

const missing = netnsMissing;
const waitUntil = (what: string, cond: () => Promise<boolean>, tries = 300) => pollUntil(what, cond, tries, 100);
/** Which zone the client reaches at the anycast address (id.server), or '' when none answers. */
const answeredBy = (ns: string = NS.cl) => answeredAt(ns, ANYCAST);

/** The router's best route to the anycast prefix: the next hop, or '' when it has none. */
async function routerNextHop(sock: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', NS.rt, 'birdc', '-s', sock, 'show', 'route', `${ANYCAST}/32`], {
    allowFail: true,
  });
  return /via (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? '';
}

describe('anycast: real BIRD in namespaces: nearest zone, kill, rise, health, shutdown order', {
  timeout: 180_000,
}, () => {
  let dir = '';
  let why: string | undefined;
  let guardAdded = false;
  const made: string[] = [];
  const pids = new Map<string, number>();
  const cfgFile = () => join(dir, 'anycast.json');

  const config = (): AnycastConfig => ({
    localAs: 65001,
    prefixes: { dns: { prefix: `${ANYCAST}/32`, role: 'dns', communities: ['65001:53'] } },
    zones: {
      a: {
        routerId: '10.79.1.2',
        source: '10.79.1.2',
        port: 179,
        neighbors: [{ address: '10.79.1.1', as: 65000, port: 179 }],
        prepend: 0,
      },
      b: {
        routerId: '10.79.2.2',
        source: '10.79.2.2',
        port: 179,
        neighbors: [{ address: '10.79.2.1', as: 65000, port: 179 }],
        prepend: 1,
      },
    },
    onDown: 'withdraw',
    downPrepend: 4,
    riseMs: 1500,
    checkMs: 100,
    withdrawGraceMs: 3000,
    bgp: { holdTimeS: 3, keepaliveS: 1, connectRetryS: 1 },
    bird: { bin: 'bird', birdc: 'birdc', dir: join(dir, 'bird') },
  });

  const startZone = (zone: 'a' | 'b') => {
    const log = join(dir, `zone-${zone}.log`);
    const p = spawn('ip', ['netns', 'exec', NS[zone], process.execPath, '--import', TS, HELPER, cfgFile(), zone, dir], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', () => writeFileSync(log, out, { flag: 'a' }));
    pids.set(zone, p.pid!);
    return { ready: () => out.includes('ready'), output: () => out };
  };

  before(async () => {
    why = missing();
    if (why && process.env.CI === 'true') throw new Error(`the anycast namespace test cannot run and CI=true: ${why}`);
    if (why) {
      console.log(`# skipping the anycast namespace test: ${why}`);
      return;
    }
    dir = mkdtempSync(join(tmpdir(), 'mz-anycast-ns-'));
    // nothing of 10.79.0.0/16 may leave the machine: the route first
    const add = await run('ip', ['route', 'add', 'prohibit', GUARD], { allowFail: true });
    assert.equal(add.code, 0, `ip route add prohibit ${GUARD}: ${add.stderr} (a leftover of an earlier run?)`);
    guardAdded = true;
    for (const ns of Object.values(NS)) {
      made.push(ns);
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // one veth pair from the router to each of a, b and the client; both ends made inside their namespaces
    for (const [who, n] of Object.entries(LINKS)) {
      const ns = NS[who as keyof typeof NS];
      await run('ip', ['link', 'add', `to-${who}`, 'netns', NS.rt, 'type', 'veth', 'peer', 'name', 'up0', 'netns', ns]);
      await run('ip', ['-n', NS.rt, 'addr', 'add', `10.79.${n}.1/24`, 'dev', `to-${who}`]);
      await run('ip', ['-n', ns, 'addr', 'add', `10.79.${n}.2/24`, 'dev', 'up0']);
      await run('ip', ['-n', NS.rt, 'link', 'set', `to-${who}`, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'up0', 'up']);
      await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', `10.79.${n}.1`]);
    }
    await run('ip', ['netns', 'exec', NS.rt, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    // the anycast address on each zone's loopback
    for (const z of ['a', 'b'] as const) await run('ip', ['-n', NS[z], 'addr', 'add', `${ANYCAST}/32`, 'dev', 'lo']);
    // the upstream router: a session to each zone, best route into the namespace's kernel table
    const rtConf = join(dir, 'router.conf');
    writeFileSync(
      rtConf,
      `router id 10.79.0.1;
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
${(['a', 'b'] as const)
  .map(
    (z) => `protocol bgp zone_${z} {
  local 10.79.${LINKS[z]}.1 as 65000;
  neighbor 10.79.${LINKS[z]}.2 as 65001;
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
  graceful restart off;
  ipv4 { import all; export none; };
}`,
  )
  .join('\n')}
`,
    );
    const rt = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS.rt,
        'bird',
        '-f',
        '-c',
        rtConf,
        '-s',
        join(dir, 'router.ctl'),
        '-P',
        join(dir, 'router.pid'),
      ],
      { detached: true, stdio: 'ignore' },
    );
    pids.set('router', rt.pid!);
    writeFileSync(cfgFile(), JSON.stringify(config()));
  });

  after(async () => {
    if (!dir) return;
    for (const pid of pids.values()) await killGroup(pid, systemClock);
    for (const ns of made) {
      for (const pid of await nsPids(ns)) await killGroup(pid, systemClock);
      await run('ip', ['netns', 'del', ns], { allowFail: true });
    }
    if (guardAdded) await run('ip', ['route', 'del', 'prohibit', GUARD], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('anycast: answered by the nearest zone, by the next one within BGP convergence, back after rise', async (t) => {
    if (why) return t.skip(why);
    const sock = join(dir, 'router.ctl');
    startZone('a');
    startZone('b');
    const first = await waitUntil('zone a answers at the anycast address', async () => (await answeredBy()) === 'a');
    assert.equal(await routerNextHop(sock), '10.79.1.2');
    // zone b announces too, prepended: the router holds its route as the alternative
    await waitUntil('the router learns zone b’s route', async () => {
      const r = await run('ip', ['netns', 'exec', NS.rt, 'birdc', '-s', sock, 'show', 'route', 'all', `${ANYCAST}/32`]);
      return r.stdout.includes('10.79.2.2') && r.stdout.includes('65001 65001');
    });

    // kill -9 zone a's process: its BIRD dies with it (pdeathsig), the router withdraws at once
    const killedAt = performance.now();
    await killGroup(pids.get('a')!, systemClock);
    await waitUntil('the router withdraws zone a’s route', async () => (await routerNextHop(sock)) === '10.79.2.2');
    const withdrawnMs = Math.round(performance.now() - killedAt);
    await waitUntil('zone b answers', async () => (await answeredBy()) === 'b');
    const answeredMs = Math.round(performance.now() - killedAt);

    // restarted: zone a waits rise (1.5 s) before it announces, then is the nearest again
    const restartedAt = performance.now();
    const a2 = startZone('a');
    await waitUntil('zone a’s process is ready', async () => a2.ready());
    await waitUntil('zone a answers again', async () => (await answeredBy()) === 'a');
    const backMs = Math.round(performance.now() - restartedAt);

    // its health verdict fails: withdrawn; healthy again: back after rise
    const flag = join(dir, 'a.unhealthy');
    writeFileSync(flag, '');
    await waitUntil('unhealthy zone a withdraws', async () => (await answeredBy()) === 'b');
    unlinkSync(flag);
    await waitUntil('healthy zone a announces again', async () => (await answeredBy()) === 'a');

    // SIGTERM: the route goes first, while zone a still answers (inside its namespace), then it closes
    process.kill(pids.get('a')!, 'SIGTERM');
    await waitUntil(
      'the router withdraws zone a’s route on shutdown',
      async () => (await routerNextHop(sock)) === '10.79.2.2',
    );
    assert.equal(await answeredBy(NS.a), 'a', 'zone a still serves after its route is withdrawn');
    await waitUntil('zone a’s process exits', async () => !alive(pids.get('a')!));
    assert.equal(await answeredBy(), 'b');

    console.log(
      `# anycast: first answer ${first} ms after start; kill -9 zone a → route withdrawn after ${withdrawnMs} ms, ` +
        `answered by zone b after ${answeredMs} ms; restarted → answered by zone a after ${backMs} ms (rise 1500 ms)`,
    );
  });
});
