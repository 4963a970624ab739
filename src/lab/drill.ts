import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import { type Random, seededRandom } from '../core/random.ts';
import { type DrillProgress, type DrillReport, type ExternalFault, runDrill } from '../drill/index.ts';
import { loadTopology } from '../topology/index.ts';
import { AnycastWatch } from './anycast-lab.ts';
import { waitJetStream, waitTcp } from './engines.ts';
import { labErrors } from './errors.ts';
import { KvProbe, type KvProbeResult } from './kv-probe.ts';
import { getShardMap, respawn, waitFor } from './lab.ts';
import { killGroup, setLink } from './netns.ts';
import { findProcess, type LabState, readState } from './state.ts';
import { LAB_KV_BUCKET, type LabLayout, labLayout, natsServerName, natsZones, zoneUrls } from './topology-gen.ts';

/** The faults the lab makes. */
export const LAB_FAULTS = ['sigkill', 'partition', 'nats-kill'] as const;
export type LabFault = (typeof LAB_FAULTS)[number];

/** Options of `lab drill`. */
export interface LabDrillOptions {
  dir: string;
  zone: string;
  fault: LabFault;
  runs: number;
  durationS: number;
  rps: number;
  users?: number;
  /** Conflicts a drill opens do not fail it (a partition opens some by design). */
  allowConflicts?: boolean;
  clock: Clock;
  random: Random;
  onProgress?(run: number, p: DrillProgress): void;
  log?(s: string): void;
}

/** How long a healed part may take to answer again, and a failback to complete (ms). */
const HEAL_TIMEOUT_MS = 90_000;
/** How long a run waits for the drilled zone's anycast route to come back after the failback (ms). */
const ANYCAST_BACK_MS = 60_000;
/** How long a run waits for every zone's log to be shipped before it faults (ms). */
const CATCH_UP_MS = 30_000;

/**
 * Waits until no zone has unshipped changes, so a run faults a caught-up cluster rather than
 * the tail of the run before it: nats-server 2.9's streams can take no writes for seconds after
 * a heal, and a run started then counted the registrations it could not ship (RPO 26 writes,
 * an 8.4 s window, "not recovered") against the fault it was about to make.
 */
export async function waitCaughtUp(
  zones: readonly { zone: string; control: string }[],
  clock: Clock,
): Promise<boolean> {
  return waitFor(clock, CATCH_UP_MS, async () => {
    // each zone's own process counts its outgoing lag
    for (const { zone, control } of zones) {
      const r = await request(`${control}/api/replication/lag?zone=${encodeURIComponent(zone)}`, {
        headersTimeout: 5000,
        bodyTimeout: 5000,
      });
      const j = (await r.body.json()) as { records?: unknown };
      if (r.statusCode !== 200 || j.records !== 0) return false;
    }
    return true;
  });
}

/**
 * The fault as the lab makes it: sigkill kills the zone's process (heal: start it again in its
 * namespace), partition takes its veth down (heal: up), nats-kill kills a NATS server (the
 * zone's own when it runs one, else the first; heal: start it again).
 */
export function labFault(state: LabState, l: LabLayout, zone: string, fault: LabFault, clock: Clock): ExternalFault {
  const z = l.zones.find((x) => x.name === zone)!;
  if (fault === 'partition') return { cut: () => setLink(z.veth, 'down'), heal: () => setLink(z.veth, 'up') };
  if (fault === 'sigkill') {
    const p = findProcess(state, 'zone', zone)!;
    return {
      cut: () => killGroup(p.pid, clock),
      async heal() {
        respawn(state, p);
        const url = zoneUrls(l, z).control;
        if (!(await waitFor(clock, HEAL_TIMEOUT_MS, async () => (await getShardMap(url)).shards.length > 0)))
          throw labErrors.ERR_LAB_NOT_READY(`lab: zone ${zone} did not come back at ${url} (see ${p.log})`);
      },
    };
  }
  const server = natsZones(l).find((n) => n.name === zone) ?? natsZones(l)[0]!;
  const p = findProcess(state, 'nats', server.name)!;
  return {
    cut: () => killGroup(p.pid, clock),
    async heal() {
      respawn(state, p);
      if (!(await waitTcp(server.ip, l.ports.natsClient, clock, HEAL_TIMEOUT_MS)))
        throw labErrors.ERR_LAB_NOT_READY(`lab: the NATS server of ${server.name} did not come back (see ${p.log})`);
      // back in the cluster: it answers JetStream requests itself
      const why = await waitJetStream([`${server.ip}:${l.ports.natsClient}`], clock, HEAL_TIMEOUT_MS);
      if (why !== null)
        throw labErrors.ERR_LAB_NOT_READY(`lab: the NATS server of ${server.name} did not rejoin JetStream: ${why}`);
    },
  };
}

/**
 * The fault, remembering whether it is cut (so a failed drill can still heal it), with the
 * control Kv probed from the cut until `kv()` is asked, after the drill (so the time after
 * the heal counts too).
 */
function healOnce(
  f: ExternalFault,
  openProbe: () => Promise<KvProbe | null>,
): ExternalFault & { isCut(): boolean; kv(): Promise<KvProbeResult | undefined> } {
  let cut = false;
  let probe: KvProbe | null = null;
  return {
    isCut: () => cut,
    async kv() {
      const p = probe;
      probe = null;
      return p ? await p.stop() : undefined;
    },
    async cut() {
      probe = await openProbe();
      await probe?.start().catch(() => {});
      cut = true;
      await f.cut();
    },
    async heal() {
      probe?.healed();
      await f.heal();
      cut = false;
    },
  };
}

/** POST /api/failback {zone}, then waits until the zone owns `home` again (retrying the POST while the controller does not see it back yet). */
export async function failBackAndWait(control: string, zone: string, home: number[], clock: Clock): Promise<void> {
  const ownsHome = async () => {
    const m = await getShardMap(control);
    return home.every((s) => m.shards[s]?.zone === zone);
  };
  const deadline = clock.now() + HEAL_TIMEOUT_MS;
  // the control API's last answer, for the error (why the leader refused)
  let last = 'no answer';
  while (clock.now() < deadline) {
    if (await ownsHome().catch(() => false)) return;
    try {
      const r = await request(`${control}/api/failback`, {
        method: 'POST',
        body: JSON.stringify({ zone }),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      last = `HTTP ${r.statusCode} ${(await r.body.text()).slice(0, 300)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (await waitFor(clock, 3000, ownsHome)) return;
  }
  const m = await getShardMap(control).catch(() => undefined);
  const owned = m ? home.filter((s) => m.shards[s]?.zone === zone).length : '?';
  throw labErrors.ERR_LAB_NOT_READY(
    `lab: ${zone} did not get its ${home.length} shards back, owns ${owned} (failback through ${control}; last answer: ${last})`,
  );
}

/**
 * Runs `runs` drills in a row against the lab in `dir`: traffic through every zone's router,
 * the fault made by the lab, the drill talking to the leader's zone (or the first other one when the leader is drilled); between
 * runs the zone fails back and owns its shards again.
 */
export async function runLabDrills(o: LabDrillOptions): Promise<DrillReport[]> {
  const state = readState(o.dir);
  if (!state?.ready) throw labErrors.ERR_LAB_NOT_UP(`lab: no lab is up in ${o.dir} (multizone lab up --dir ${o.dir})`);
  const l = labLayout();
  if (!l.zones.some((z) => z.name === o.zone))
    throw labErrors.ERR_LAB_NOT_UP(`lab: no zone "${o.zone}" (zones: ${l.zones.map((z) => z.name).join(', ')})`);
  const other = l.zones.find((z) => z.name !== o.zone)!;
  // the leader's control API when the leader is not drilled: its zone states are the
  // controller's own (the drill's client steers away from zones it declares down)
  const leader = (await getShardMap(zoneUrls(l, other).control)).leader;
  const control =
    leader?.control && leader.zones && !leader.zones.includes(o.zone) ? leader.control : zoneUrls(l, other).control;
  const endpoints = {
    routers: new Map(l.zones.map((z) => [z.name, zoneUrls(l, z).router])),
    apps: new Map(l.zones.map((z) => [z.name, zoneUrls(l, z).app])),
  };
  const start = await getShardMap(control);
  // what a failback brings back: the zone's shards of the topology (one it holds for another
  // zone whose failback failed earlier stays where it is)
  const homeOf = loadTopology(state.config!).initialOwners();
  const home = start.shards.filter((s) => s.zone === o.zone && homeOf[s.shard] === o.zone).map((s) => s.shard);
  const reports: DrillReport[] = [];
  for (let run = 1; run <= o.runs; run++) {
    o.log?.(`run ${run}/${o.runs}: ${o.fault} ${o.zone}, control API ${control}`);
    if (
      !(await waitCaughtUp(
        l.zones.map((z) => ({ zone: z.name, control: zoneUrls(l, z).control })),
        o.clock,
      ))
    )
      o.log?.(`run ${run}/${o.runs}: a zone's log is still not shipped after ${CATCH_UP_MS / 1000} s; faulting anyway`);
    // the probe talks to servers the fault leaves alone: it times the Kv, not its own reconnect
    const cutServer = o.fault === 'sigkill' ? null : natsServerOf(l, o.zone, o.fault);
    const alive = natsZones(l).filter((n) => n.name !== cutServer);
    // the anycast address, watched from the cut (with BIRD installed): withdrawal, another zone answering
    const z = l.zones.find((x) => x.name === o.zone)!;
    const watch = state.anycast ? new AnycastWatch(state, o.zone, z.ip, o.clock) : undefined;
    const base = labFault(state, l, o.zone, o.fault, o.clock);
    const watched: ExternalFault = watch
      ? {
          async cut() {
            await watch.beforeCut();
            watch.cut();
            await base.cut();
          },
          async heal() {
            watch.healed();
            await base.heal();
          },
        }
      : base;
    const fault = healOnce(watched, () =>
      state.kv === 'etcd'
        ? KvProbe.openEtcd(
            alive.map((n) => `http://${n.ip}:${l.ports.etcdClient}`),
            LAB_KV_BUCKET,
            o.clock,
          )
        : KvProbe.open(
            alive.map((n) => `${n.ip}:${l.ports.natsClient}`),
            LAB_KV_BUCKET,
            o.clock,
          ),
    );
    let report: DrillReport;
    try {
      report = await runDrill({
        control,
        zone: o.zone,
        mode: o.fault === 'partition' ? 'partition' : 'kill',
        consistency: 'fenced',
        rps: o.rps,
        durationS: o.durationS,
        writes: 0.5,
        ...(o.users === undefined ? {} : { users: o.users }),
        readBackTimeoutMs: 60_000,
        restore: true,
        failback: false,
        clock: o.clock,
        // each run its own seed: its own users (an earlier run's conflicts may lock the last ones)
        random: seededRandom(o.random.int(2 ** 31)),
        external: fault,
        endpoints,
        allowConflicts: o.allowConflicts === true,
        ...(o.onProgress ? { onProgress: (p: DrillProgress) => o.onProgress?.(run, p) } : {}),
      });
    } catch (e) {
      // a drill that failed midway must not leave the lab faulted (a dead server, a link down)
      if (fault.isCut()) await fault.heal().catch(() => {});
      await fault.kv().catch(() => {});
      await watch?.stop();
      throw e;
    }
    await watch?.stop();
    const kv = await fault.kv();
    if (kv) report.kv = { ...kv, leaderCut: kvLeaderCut(kv.leader, o.zone, o.fault, l) };
    reports.push(report);
    if (home.length) {
      // only what had moved away comes back (a NATS server's death moves nothing)
      const m = await getShardMap(control).catch(() => undefined);
      const away = m ? home.filter((s) => m.shards[s]?.zone !== o.zone).length : home.length;
      await failBackAndWait(control, o.zone, home, o.clock);
      if (away > 0) report.restore = { ...report.restore, restored: true, failback: { moved: away } };
    }
    if (watch) {
      // back once restarted, failed back (a zone without its shards stays withdrawn) and risen
      await watch.back(ANYCAST_BACK_MS);
      report.anycast = { ...watch.figures };
    }
  }
  return reports;
}

/** Did the fault take the Kv stream's leader away (its server is in the cut zone, or is the one killed)? */
function kvLeaderCut(leader: string | null, zone: string, fault: LabFault, l: LabLayout): boolean {
  if (leader === null || fault === 'sigkill') return false;
  return leader === natsServerName(natsServerOf(l, zone, fault));
}

/** The zone whose NATS server a partition of `zone` cuts or a nats-kill kills (as labFault picks it). */
function natsServerOf(l: LabLayout, zone: string, fault: Exclude<LabFault, 'sigkill'>): string {
  return fault === 'nats-kill' ? (natsZones(l).find((n) => n.name === zone) ?? natsZones(l)[0]!).name : zone;
}

/** The q-quantile (0..1) of the runs' RTOs; null (not recovered) counts as the worst. */
export function rtoQuantile(reports: readonly DrillReport[], q: number): number | null {
  const v = reports.map((r) => r.rtoMs ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const x = v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]!;
  return Number.isFinite(x) ? x : null;
}
