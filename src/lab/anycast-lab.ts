/**
 * The lab's anycast: an upstream router namespace (`mzlab-rt`, on the bridge at 10.77.0.2)
 * running BIRD, which peers with every zone's BIRD (started by the zone's process) and puts the
 * best route into its kernel table; a client namespace (`mzlab-cl`, 10.77.1.2) behind it, its
 * only way out; the anycast address 10.77.9.53 on every zone's loopback, the zone's DNS bound to
 * it. The drill watches the router's routes and asks the client's `dig @10.77.9.53 id.server`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import type { AnycastFigures } from '../drill/index.ts';
import { findTool, run, spawnInNs } from './netns.ts';
import type { LabState } from './state.ts';
import { writeState } from './state.ts';
import { LAB_ANYCAST, type LabLayout, renderRouterBirdConf } from './topology-gen.ts';

/** True when BIRD 2 is installed: the lab then builds its anycast parts. */
export function anycastAvailable(): boolean {
  return Boolean(findTool('bird') && findTool('birdc'));
}

/**
 * The router and client namespaces and the zones' anycast address (recorded in the state
 * before each is made); then the router's BIRD.
 */
export async function buildAnycastNetwork(state: LabState, l: LabLayout, log: (s: string) => void): Promise<void> {
  const { router: rt, client: cl, address } = LAB_ANYCAST;
  for (const ns of [rt.ns, cl.ns]) {
    state.namespaces.push(ns);
    writeState(state);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  state.veths.push(rt.veth);
  writeState(state);
  await run('ip', ['link', 'add', rt.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', rt.ns]);
  await run('ip', ['link', 'set', rt.veth, 'master', l.bridge]);
  await run('ip', ['link', 'set', rt.veth, 'up']);
  await run('ip', ['-n', rt.ns, 'addr', 'add', `${rt.ip}/${l.prefixLen}`, 'dev', 'eth0']);
  await run('ip', ['-n', rt.ns, 'link', 'set', 'eth0', 'up']);
  // the client's link: both ends made inside their namespaces (nothing of it in the root one)
  await run('ip', ['link', 'add', 'to-cl', 'netns', rt.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cl.ns]);
  await run('ip', ['-n', rt.ns, 'addr', 'add', `${cl.routerIp}/24`, 'dev', 'to-cl']);
  await run('ip', ['-n', rt.ns, 'link', 'set', 'to-cl', 'up']);
  await run('ip', ['-n', cl.ns, 'addr', 'add', `${cl.ip}/24`, 'dev', 'eth0']);
  await run('ip', ['-n', cl.ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', cl.ns, 'route', 'add', 'default', 'via', cl.routerIp]);
  // /proc rather than sysctl(8): procps may not be installed
  await run('ip', ['netns', 'exec', rt.ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  for (const z of l.zones) {
    await run('ip', ['-n', z.ns, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    // replies to the clients go back through the router (the zones have no default route)
    await run('ip', ['-n', z.ns, 'route', 'add', cl.net, 'via', rt.ip]);
  }
  const conf = join(state.dir, 'router-bird.conf');
  writeFileSync(conf, renderRouterBirdConf(l));
  const sock = routerSocket(state);
  const p = {
    kind: 'bird' as const,
    zone: 'router',
    ns: rt.ns,
    argv: [findTool('bird') ?? 'bird', '-f', '-c', conf, '-s', sock, '-P', join(state.dir, 'router-bird.pid')],
    log: join(state.dir, 'logs', 'bird-router.log'),
    pid: 0,
  };
  state.processes.push(p);
  p.pid = spawnInNs(p.ns, p.argv, p.log);
  state.anycast = true;
  writeState(state);
  log(
    `anycast: router ${rt.ns} (${rt.ip}, BIRD AS${LAB_ANYCAST.routerAs}), clients ${cl.ns} (${cl.ip}), ${address} on every zone`,
  );
}

/** The router BIRD's control socket. */
export function routerSocket(state: LabState): string {
  return join(state.dir, 'router-bird.ctl');
}

/** The router's routes to the anycast address: the next hops it holds (best first), empty when none. */
export async function routerRoutes(state: LabState): Promise<{ best: string | null; hops: string[] }> {
  const r = await run(
    'ip',
    [
      'netns',
      'exec',
      LAB_ANYCAST.router.ns,
      findTool('birdc') ?? 'birdc',
      '-s',
      routerSocket(state),
      'show',
      'route',
      `${LAB_ANYCAST.address}/32`,
    ],
    { allowFail: true },
  );
  // `10.77.9.53/32  unicast [zone_sh_a 10:00:00.000] * (100) [AS65001i]` then `  via 10.77.0.11 on eth0`
  const hops: string[] = [];
  let best: string | null = null;
  let starred = false;
  for (const line of r.stdout.split('\n')) {
    if (/\[zone_/.test(line)) starred = /\]\s+\*/.test(line);
    const m = /via (\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (m) {
      hops.push(m[1]!);
      if (starred && best === null) best = m[1]!;
    }
  }
  return { best, hops };
}

/** The zone the client reaches at the anycast address (`dig @ADDR id.server CH TXT`), or null when none answers. */
export async function anycastAnsweredBy(): Promise<string | null> {
  const r = await run(
    'ip',
    [
      'netns',
      'exec',
      LAB_ANYCAST.client.ns,
      findTool('dig') ?? 'dig',
      '+short',
      '+time=1',
      '+tries=1',
      `@${LAB_ANYCAST.address}`,
      'id.server',
      'CH',
      'TXT',
    ],
    { allowFail: true },
  );
  const v = r.stdout.trim().replace(/"/g, '');
  return r.code === 0 && v && !v.startsWith(';') ? v : null;
}

/**
 * Watches the anycast address from the cut of `zone` (at `ip`): how long until the router
 * withdrew its route and until the client was answered by another zone; `healed()` starts
 * the clock of its return, `back(timeout)` waits for it.
 */
export class AnycastWatch {
  private cutAt = 0;
  private healedAt = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];
  readonly figures: AnycastFigures = {
    address: LAB_ANYCAST.address,
    before: null,
    withdrawnMs: null,
    otherMs: null,
    answeredBy: null,
    backMs: null,
  };

  constructor(
    private readonly state: LabState,
    private readonly zone: string,
    private readonly ip: string,
    private readonly clock: Clock,
  ) {}

  /** Reads who answers now; call right before the cut. */
  async beforeCut(): Promise<void> {
    this.figures.before = await anycastAnsweredBy();
  }

  /** The cut happened now: polls the router and the client until each shows the change. */
  cut(): void {
    this.cutAt = this.clock.now();
    if (this.figures.before !== this.zone) this.figures.otherMs = 0;
    this.loops.push(
      this.poll(async () => {
        if ((await routerRoutes(this.state)).hops.includes(this.ip)) return false;
        this.figures.withdrawnMs = Math.round(this.clock.now() - this.cutAt);
        return true;
      }),
    );
    if (this.figures.otherMs === null)
      this.loops.push(
        this.poll(async () => {
          const by = await anycastAnsweredBy();
          if (by === null || by === this.zone) return false;
          this.figures.otherMs = Math.round(this.clock.now() - this.cutAt);
          this.figures.answeredBy = by;
          return true;
        }),
      );
  }

  /** The heal happened now. */
  healed(): void {
    this.healedAt = this.clock.now();
  }

  /** Stops polling the cut's figures. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** Waits (at most `timeoutMs`) until the router holds the zone's route again; sets backMs. */
  async back(timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    while (this.clock.now() < deadline) {
      if ((await routerRoutes(this.state)).hops.includes(this.ip)) {
        this.figures.backMs = Math.round(this.clock.now() - this.healedAt);
        return;
      }
      await this.clock.sleep(100);
    }
  }

  private async poll(done: () => Promise<boolean>): Promise<void> {
    while (!this.stopped) {
      if (await done().catch(() => false)) return;
      await this.clock.sleep(50);
    }
  }
}
