// BFD under the zones' BGP sessions, end to end with real BIRD 2 in network namespaces, laid
// out like the lab: the upstream router and two zones on one bridge (in a switch namespace of
// its own), a client behind the router on its own link. A **partition** of zone a (its veth's
// bridge port down, as the lab's partition fault does; its process and BIRD alive, the router's
// own link untouched) is detected by BFD: the router withdraws zone a's route with the BGP error
// "BFD session down" and the client is answered by zone b. The same partition with BFD off at
// the router for zone a waits for the hold timer ("Hold timer expired"). Both times are printed
// next to each other, never asserted. (A veth straight from the zone to the router would not
// do: its carrier loss closes the router's session at once, "Link down", BFD or not.)
//
// Own names (namespaces `mzbfd-<pid>-*`, subnet 10.78.0.0/16 made `prohibit` in the root
// namespace first), bounded in time, cleaned up after itself even on failure. Needs root, Linux,
// bird, birdc, ip and dig: skips with a message without them, fails when CI=true.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AnycastZoneState } from '../../../src/anycast/index.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { killGroup, nsPids, run } from '../../../src/lab/netns.ts';
import type { AnycastConfig } from '../../../src/topology/index.ts';
import { answeredAt, netnsMissing, pollUntil, sleep } from './netns-support.ts';

const GUARD = '10.78.0.0/16';
const ANYCAST = '10.78.9.53';
const TAG = `mzbfd-${process.pid % 100_000}`;
const NS = { sw: `${TAG}-sw`, rt: `${TAG}-rt`, a: `${TAG}-a`, b: `${TAG}-b`, cl: `${TAG}-cl` };
/** On the bridge (10.78.0.0/24): the router and the zones. */
const IP = { rt: '10.78.0.1', a: '10.78.0.11', b: '10.78.0.12' } as const;
const HELPER = resolve('test/integration/anycast/zone-speaker.ts');
const TS = resolve('bin/ts.mjs');
const HOLD_S = 3;
const BFD = { intervalMs: 200, multiplier: 3 };

const missing = netnsMissing;
const waitUntil = (what: string, cond: () => Promise<boolean>, tries = 600) => pollUntil(what, cond, tries, 50);
/** Which zone the client reaches at the anycast address (id.server), or '' when none answers. */
const answeredBy = () => answeredAt(NS.cl, ANYCAST);

/** The upstream router's bird.conf: a session per zone, BFD under those in `bfdFor`. */
function routerConf(bfdFor: ReadonlySet<string>): string {
  return `router id ${IP.rt};
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
protocol bfd { interface "*" { interval ${BFD.intervalMs} ms; multiplier ${BFD.multiplier}; }; }
${(['a', 'b'] as const)
  .map(
    (z) => `protocol bgp zone_${z} {
  local ${IP.rt} as 65000;
  neighbor ${IP[z]} as 65001;
  hold time ${HOLD_S}; keepalive time 1; connect retry time 1; error wait time 1, 2;
  graceful restart off;
  ${bfdFor.has(z) ? 'bfd on;' : 'bfd off;'}
  ipv4 { import all; export none; };
}`,
  )
  .join('\n')}
`;
}

describe('anycast: BFD under BGP in namespaces: a partitioned zone is withdrawn before the hold time', {
  timeout: 180_000,
}, () => {
  let dir = '';
  let why: string | undefined;
  let guardAdded = false;
  const made: string[] = [];
  const pids = new Map<string, number>();
  const sock = () => join(dir, 'router.ctl');
  const rtConf = () => join(dir, 'router.conf');
  const birdc = (...args: string[]) =>
    run('ip', ['netns', 'exec', NS.rt, 'birdc', '-s', sock(), ...args], { allowFail: true });
  const nextHop = async () =>
    /via (\d+\.\d+\.\d+\.\d+)/.exec((await birdc('show', 'route', `${ANYCAST}/32`)).stdout)?.[1] ?? '';

  const config = (): AnycastConfig => ({
    localAs: 65001,
    prefixes: { dns: { prefix: `${ANYCAST}/32`, role: 'dns', communities: [] } },
    zones: Object.fromEntries(
      (['a', 'b'] as const).map((z) => [
        z,
        {
          routerId: IP[z],
          source: IP[z],
          port: 179,
          neighbors: [{ address: IP.rt, as: 65000, port: 179 }],
          prepend: z === 'a' ? 0 : 1,
        },
      ]),
    ),
    onDown: 'withdraw',
    downPrepend: 4,
    riseMs: 500,
    checkMs: 100,
    withdrawGraceMs: 500,
    bgp: { holdTimeS: HOLD_S, keepaliveS: 1, connectRetryS: 1 },
    bfd: BFD,
    bird: { bin: 'bird', birdc: 'birdc', dir: join(dir, 'bird') },
  });

  const startZone = (zone: 'a' | 'b') => {
    const cfg = join(dir, 'anycast.json');
    const p = spawn('ip', ['netns', 'exec', NS[zone], process.execPath, '--import', TS, HELPER, cfg, zone, dir], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', () => writeFileSync(join(dir, `zone-${zone}.log`), out, { flag: 'a' }));
    pids.set(zone, p.pid!);
    return { ready: () => out.includes('ready') };
  };

  /** Zone a's bridge port down: its process and BIRD live on, nothing of it reaches the router. */
  const partition = () => run('ip', ['-n', NS.sw, 'link', 'set', 'p-a', 'down']);
  const heal = () => run('ip', ['-n', NS.sw, 'link', 'set', 'p-a', 'up']);

  /** The partition, timed from the link going down until the router's route goes via zone b. */
  const measurePartition = async () => {
    const t0 = performance.now();
    await partition();
    await waitUntil('the router withdraws zone a’s route', async () => (await nextHop()) === IP.b);
    const withdrawnMs = Math.round(performance.now() - t0);
    await waitUntil('zone b answers', async () => (await answeredBy()) === 'b');
    const answeredMs = Math.round(performance.now() - t0);
    const lastError = /Last error:\s+(.+)/
      .exec((await birdc('show', 'protocols', 'all', 'zone_a')).stdout)?.[1]
      ?.trim();
    return { withdrawnMs, answeredMs, lastError };
  };

  /** Zone a answers again through the router, its session established. */
  const back = () =>
    waitUntil('zone a answers again', async () => (await nextHop()) === IP.a && (await answeredBy()) === 'a');

  before(async () => {
    why = missing();
    if (why && process.env.CI === 'true') throw new Error(`the BFD namespace test cannot run and CI=true: ${why}`);
    if (why) {
      console.log(`# skipping the BFD namespace test: ${why}`);
      return;
    }
    dir = mkdtempSync(join(tmpdir(), 'mz-anycast-bfd-'));
    // nothing of 10.78.0.0/16 may leave the machine: the route first
    const add = await run('ip', ['route', 'add', 'prohibit', GUARD], { allowFail: true });
    assert.equal(add.code, 0, `ip route add prohibit ${GUARD}: ${add.stderr} (a leftover of an earlier run?)`);
    guardAdded = true;
    for (const ns of Object.values(NS)) {
      made.push(ns);
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    // the bridge, and a port on it for the router and each zone (their end `up0`)
    await run('ip', ['-n', NS.sw, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', NS.sw, 'link', 'set', 'br0', 'up']);
    for (const who of ['rt', 'a', 'b'] as const) {
      await run('ip', [
        'link',
        'add',
        `p-${who}`,
        'netns',
        NS.sw,
        'type',
        'veth',
        'peer',
        'name',
        'up0',
        'netns',
        NS[who],
      ]);
      await run('ip', ['-n', NS.sw, 'link', 'set', `p-${who}`, 'master', 'br0']);
      await run('ip', ['-n', NS.sw, 'link', 'set', `p-${who}`, 'up']);
      await run('ip', ['-n', NS[who], 'addr', 'add', `${IP[who]}/24`, 'dev', 'up0']);
      await run('ip', ['-n', NS[who], 'link', 'set', 'up0', 'up']);
      if (who !== 'rt') await run('ip', ['-n', NS[who], 'route', 'add', 'default', 'via', IP.rt]);
    }
    // the client's own link to the router
    await run('ip', ['link', 'add', 'to-cl', 'netns', NS.rt, 'type', 'veth', 'peer', 'name', 'up0', 'netns', NS.cl]);
    await run('ip', ['-n', NS.rt, 'addr', 'add', '10.78.3.1/24', 'dev', 'to-cl']);
    await run('ip', ['-n', NS.cl, 'addr', 'add', '10.78.3.2/24', 'dev', 'up0']);
    await run('ip', ['-n', NS.rt, 'link', 'set', 'to-cl', 'up']);
    await run('ip', ['-n', NS.cl, 'link', 'set', 'up0', 'up']);
    await run('ip', ['-n', NS.cl, 'route', 'add', 'default', 'via', '10.78.3.1']);
    await run('ip', ['netns', 'exec', NS.rt, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    for (const z of ['a', 'b'] as const) await run('ip', ['-n', NS[z], 'addr', 'add', `${ANYCAST}/32`, 'dev', 'lo']);
    writeFileSync(rtConf(), routerConf(new Set(['a', 'b'])));
    const rt = spawn(
      'ip',
      ['netns', 'exec', NS.rt, 'bird', '-f', '-c', rtConf(), '-s', sock(), '-P', join(dir, 'router.pid')],
      { detached: true, stdio: 'ignore' },
    );
    pids.set('router', rt.pid!);
    writeFileSync(join(dir, 'anycast.json'), JSON.stringify(config()));
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

  it('anycast: partitioned zone a is withdrawn by BFD (and by the hold timer without it), zone b answers', async (t) => {
    if (why) return t.skip(why);
    const a = startZone('a');
    startZone('b');
    await back();
    // its SIGUSR2 handler is there once it printed ready
    await waitUntil('zone a’s process is ready', async () => a.ready());
    // the router's BFD session to zone a is up (both ends run BFD)
    await waitUntil('the router’s BFD session to zone a is up', async () =>
      /10\.78\.0\.11\s+up0\s+Up/.test((await birdc('show', 'bfd', 'sessions')).stdout),
    );

    // zone a's announcer shows its session's BFD state (its driver reads `birdc show bfd sessions`)
    const stateFile = join(dir, 'a.state.json');
    await waitUntil('zone a’s announcer shows BFD Up on its session', async () => {
      process.kill(pids.get('a')!, 'SIGUSR2');
      await sleep(100);
      const st = JSON.parse(readFileSync(stateFile, 'utf8')) as AnycastZoneState;
      return st.sessions.some((x) => x.name === 'mz_up1' && x.established && x.bfd === 'Up');
    });

    // partition with BFD on: the router's BGP session to zone a closes on BFD down
    const bfd = await measurePartition();
    assert.match(bfd.lastError ?? '', /BFD session down/);
    await heal();
    await back();

    // the same partition with BFD off at the router for zone a: only the hold timer notices
    writeFileSync(rtConf(), routerConf(new Set(['b'])));
    const conf = await birdc('configure');
    assert.match(conf.stdout, /Reconfigur/, conf.stdout);
    await back();
    const hold = await measurePartition();
    assert.match(hold.lastError ?? '', /Hold timer expired/);
    await heal();
    await back();

    console.log(
      `# anycast BFD: partition of zone a (its bridge port down) → router withdrew its route after ${bfd.withdrawnMs} ms ` +
        `with BFD ${BFD.intervalMs} ms × ${BFD.multiplier} (zone b answered after ${bfd.answeredMs} ms); ` +
        `without BFD ${hold.withdrawnMs} ms (hold time ${HOLD_S} s; zone b answered after ${hold.answeredMs} ms)`,
    );
  });
});
