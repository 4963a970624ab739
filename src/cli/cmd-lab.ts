import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import { systemRandom } from '../core/random.ts';
import type { DrillReport } from '../drill/index.ts';
import {
  LAB_FAULTS,
  type LabFault,
  labDown,
  labErrors,
  labUp,
  rtoQuantile,
  runLabDrills,
  runLabOutage,
  runLabRestart,
  startDelayProxy,
} from '../lab/index.ts';
import { usage } from './commands.ts';
import { EX_CONFIG, EX_NOPERM, type Io } from './io.ts';
import { OPTIONS } from './options.ts';
import { renderTable } from './table.ts';

/** `multizone lab up|drill|down`: the multi-zone lab in network namespaces on this machine. */
export async function cmdLab(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'up':
        return await labUpCmd(rest, io);
      case 'drill':
        return await labDrillCmd(rest, io);
      case 'outage':
        return await labOutageCmd(rest, io);
      case 'restart':
        return await labRestartCmd(rest, io);
      case 'down':
        return await labDownCmd(rest, io);
      case 'proxy':
        return await labProxyCmd(rest, io);
      default:
        return usage(
          io,
          'lab',
          sub === undefined ? 'lab needs up, drill, outage, restart or down' : `unknown lab subcommand "${sub}"`,
        );
    }
  } catch (e) {
    // the environment is not fit for a lab: say so with the exit code a script can test
    if (hasCode(e, labErrors.ERR_LAB_NOT_ROOT)) {
      io.err(`multizone: ${(e as Error).message}`);
      return EX_NOPERM;
    }
    if (hasCode(e, labErrors.ERR_LAB_MISSING_TOOL)) {
      io.err(`multizone: ${(e as Error).message}`);
      return EX_CONFIG;
    }
    throw e;
  }
}

async function labUpCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.labUp,
  });
  const delayMs = Number(values['delay-ms']);
  if (!(Number.isInteger(delayMs) && delayMs >= 0 && delayMs <= 5000)) {
    return usage(io, 'lab', `--delay-ms must be an integer 0..5000 (got ${values['delay-ms']})`);
  }
  const kv = values.kv;
  if (kv !== 'nats' && kv !== 'etcd') return usage(io, 'lab', `--kv must be nats or etcd (got ${kv})`);
  const timing = values.timing;
  if (timing !== 'lab' && timing !== 'defaults')
    return usage(io, 'lab', `--timing must be lab or defaults (got ${timing})`);
  const dir = resolve(values.dir);
  const lab = await labUp({ dir, delayMs, kv, timing, clock: systemClock, log: (s) => io.err(s) });
  io.out(
    renderTable(
      ['zone', 'namespace', 'router', 'control'],
      lab.zones.map((z) => [z.zone, z.ns, z.router, z.control]),
    ),
  );
  io.out(
    `lab ready: ${lab.zones.map((z) => `${z.zone} ${z.control}`).join(', ')}; dir ${dir}; WAN delay ${delayMs} ms; control Kv on ${kv}; ${timing === 'lab' ? "the lab's quick timing" : "multizone's default timing"}`,
  );
  if (values.detach) {
    io.out(`detached: multizone lab down --dir ${dir} removes it`);
    return 0;
  }
  io.out('Ctrl-C tears the lab down.');
  // the lab's processes are detached: nothing else holds this process open until the signal
  const keepAlive = setInterval(() => {}, 60_000); // lint-allow: keeps the CLI process alive
  const sig = await new Promise<string>((r) => {
    process.once('SIGINT', () => r('SIGINT'));
    process.once('SIGTERM', () => r('SIGTERM'));
  }).finally(() => clearInterval(keepAlive));
  io.err(`\n${sig}: tearing the lab down`);
  await labDown({ dir, clock: systemClock, log: (s) => io.err(s) });
  return 0;
}

async function labDownCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS.labDown });
  if (process.getuid?.() !== 0)
    throw labErrors.ERR_LAB_NOT_ROOT('lab: down needs root (it deletes namespaces, a bridge, a route)');
  await labDown({ dir: resolve(values.dir), clock: systemClock, log: (s) => io.out(s) });
  return 0;
}

const ms = (v: number | null) => (v === null ? 'not recovered' : `${(v / 1000).toFixed(1)} s`);

/**
 * The control Kv over the runs: how many took its stream leader away, and the longest time it
 * took no write while cut and after the heal (every zone's lease is renewed there, so that
 * time fences every zone).
 */
function kvColumn(reports: readonly DrillReport[]): string {
  const seen = reports.filter((r) => r.kv);
  if (seen.length === 0) return 'n/a';
  const cut = seen.filter((r) => r.kv?.leaderCut).length;
  const worst = Math.max(...seen.map((r) => r.kv?.unavailableMs ?? 0));
  const after = Math.max(...seen.map((r) => r.kv?.afterHealMs ?? 0));
  return `leader cut in ${cut}/${seen.length}, no writes ≤ ${ms(worst)} cut, ≤ ${ms(after)} after the heal`;
}

/** One row per zone and fault over every run: RTO p50/p99, misrouted, lost, RPO, conflicts. */
export function renderLabDrills(zone: string, fault: string, reports: readonly DrillReport[]): string {
  const sum = (f: (r: DrillReport) => number | null | undefined) =>
    reports.reduce((n, r) => (f(r) === null || f(r) === undefined ? n : n + (f(r) as number)), 0);
  const lostKnown = reports.every((r) => r.lost !== null);
  return renderTable(
    [
      'zone',
      'fault',
      'runs',
      'RTO p50',
      'RTO p99',
      'goal',
      'misrouted writes',
      'lost writes',
      'RPO',
      'conflicts',
      'Kv without a leader',
      'met',
    ],
    [
      [
        zone,
        fault,
        reports.length,
        ms(rtoQuantile(reports, 0.5)),
        ms(rtoQuantile(reports, 0.99)),
        `≤ ${ms(reports[0]?.goal.rtoMs ?? null)}`,
        sum((r) => r.misrouted.writes),
        lostKnown ? sum((r) => r.lost) : 'n/a',
        // the drill's own count: the zone's acknowledged writes the survivors lacked (after the cut too)
        reports.every((r) => !r.unshipped)
          ? 'n/a'
          : `${sum((r) => r.unshipped?.count)} writes (${sum((r) => r.unshipped?.afterCut)} after the cut), window ≤ ${ms(Math.max(...reports.map((r) => r.unshipped?.windowMs ?? 0)))}`,
        reports.every((r) => !r.conflicts) ? 'n/a' : sum((r) => r.conflicts?.opened),
        kvColumn(reports),
        `${reports.filter((r) => r.goal.met).length}/${reports.length}`,
      ],
    ],
  );
}

/**
 * The anycast address over the runs (lab up with BIRD installed): per run, who answered before
 * the cut, when the router withdrew the zone's route, when another zone answered, and when the
 * route was back after the heal (restart, failback, rise).
 */
export function renderAnycastFigures(zone: string, reports: readonly DrillReport[]): string {
  const seen = reports.filter((r) => r.anycast);
  if (seen.length === 0) return '';
  const s = (v: number | null | undefined) =>
    v === null || v === undefined ? 'not seen' : `${(v / 1000).toFixed(2)} s`;
  return renderTable(
    [
      'run',
      'anycast',
      'answered before',
      `${zone}'s route withdrawn after`,
      'answered by another zone after',
      'back after heal',
    ],
    seen.map((r, i) => {
      const a = r.anycast!;
      return [
        i + 1,
        a.address,
        a.before ?? 'none',
        s(a.withdrawnMs),
        a.otherMs === 0 && a.before !== zone
          ? `0 (${a.before ?? 'none'} was answering)`
          : `${s(a.otherMs)}${a.answeredBy ? ` (${a.answeredBy})` : ''}`,
        s(a.backMs),
      ];
    }),
  );
}

async function labDrillCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.labDrill,
  });
  const runs = Number(values.runs);
  const duration = Number(values.duration);
  const rps = Number(values.rps);
  const users = values.users === undefined ? undefined : Number(values.users);
  if (
    !values.zone ||
    !(LAB_FAULTS as readonly string[]).includes(values.fault) ||
    !(Number.isInteger(runs) && runs >= 1 && runs <= 100) ||
    !(duration >= 4 && duration <= 3600) ||
    !(rps > 0 && rps <= 5000) ||
    !(users === undefined || (Number.isInteger(users) && users > 0))
  )
    return usage(io, 'lab', values.zone ? 'an option of lab drill is out of range' : 'lab drill needs --zone Z');
  // the injected clock's timers are unref'd: hold the process open while the drills run
  const keepAlive = setInterval(() => {}, 1000); // lint-allow: keeps the CLI process alive
  let last = '';
  const reports = await runLabDrills({
    dir: resolve(values.dir),
    zone: values.zone,
    fault: values.fault as LabFault,
    runs,
    durationS: duration,
    rps,
    ...(users === undefined ? {} : { users }),
    allowConflicts: values['allow-conflicts'] === true,
    clock: systemClock,
    random: systemRandom(),
    log: (s) => io.err(s),
    onProgress(run, p) {
      if (values.json) return;
      const line = `run ${run}: ${p.phase} ${Math.floor(p.elapsedS)}/${p.durationS}s ok ${p.ok} failed ${p.failed}`;
      if (line.split(' ').slice(0, 4).join(' ') !== last) io.err(line);
      last = line.split(' ').slice(0, 4).join(' ');
    },
  }).finally(() => clearInterval(keepAlive));
  if (values.json) io.out(JSON.stringify(reports));
  else {
    io.out(renderLabDrills(values.zone, values.fault, reports));
    const any = renderAnycastFigures(values.zone, reports);
    if (any) io.out(any);
  }
  return reports.every((r) => r.goal.met && (r.lost ?? 0) === 0) ? 0 : 1;
}

/** `lab outage`: two zones killed at once; how long until DNS and HTTPDNS leave them out. */
async function labOutageCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.labOutage,
  });
  const keepAlive = setInterval(() => {}, 1000); // lint-allow: keeps the CLI process alive
  const r = await runLabOutage({
    dir: resolve(values.dir),
    zones: values.zones.split(',').map((z) => z.trim()),
    clock: systemClock,
    log: (s) => io.err(s),
  }).finally(() => clearInterval(keepAlive));
  const within = (v: number | null) => v !== null && v <= r.boundMs;
  if (values.json) io.out(JSON.stringify(r));
  else
    io.out(
      renderTable(
        ['killed', 'asked', 'DNS left them out', 'HTTPDNS left them out', 'bound', 'unanswered', 'back in DNS'],
        [
          [
            r.zones.join(' + '),
            r.observers.join(', '),
            ms(r.dnsMs),
            ms(r.httpdnsMs),
            `≤ ${ms(r.boundMs)}`,
            `${r.failed}/${r.asked}`,
            ms(r.backMs),
          ],
        ],
      ),
    );
  return within(r.dnsMs) && within(r.httpdnsMs) && r.failed === 0 ? 0 : 1;
}

/** `lab restart`: every zone process stopped and started again; the shard map must be unchanged. */
async function labRestartCmd(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: OPTIONS.labRestart,
  });
  const keepAlive = setInterval(() => {}, 1000); // lint-allow: keeps the CLI process alive
  const r = await runLabRestart({ dir: resolve(values.dir), clock: systemClock, log: (s) => io.err(s) }).finally(() =>
    clearInterval(keepAlive),
  );
  const same = r.changed.length === 0 && !r.globalMoved;
  if (values.json) io.out(JSON.stringify(r));
  else
    io.out(
      same
        ? `the shard map is unchanged after restarting every zone (up again in ${ms(r.upMs)}, watched ${ms(r.watchedMs)})`
        : `the shard map changed: shards ${r.changed.join(', ') || 'none'}${r.globalMoved ? ', and the global writer moved' : ''}\n  before ${r.before}\n  after  ${r.after}`,
    );
  return same ? 0 : 1;
}

/** `multizone lab proxy [--delay-ms N] LISTEN=TARGET...`: the delay proxies of one zone (the lab starts it in the zone's namespace). */
async function labProxyCmd(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: OPTIONS.labProxy,
  });
  const delayMs = Number(values['delay-ms']);
  const hp = (s: string) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  };
  const maps = positionals.map((p) => p.split('='));
  if (!(delayMs >= 0) || maps.length === 0 || maps.some((m) => m.length !== 2)) {
    return usage(io, 'lab', 'usage: multizone lab proxy [--delay-ms N] HOST:PORT=HOST:PORT... (started by lab up)');
  }
  const proxies = await Promise.all(
    maps.map(([l, t]) => startDelayProxy({ listen: hp(l!), target: hp(t!), delayMs, clock: systemClock })),
  );
  io.out(`delay proxy ready: ${positionals.join(' ')} (${delayMs} ms each way)`);
  const keepAlive = setInterval(() => {}, 60_000); // lint-allow: keeps the proxy process alive
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  }).finally(() => clearInterval(keepAlive));
  await Promise.all(proxies.map((p) => p.close()));
  return 0;
}
