/**
 * The BIRD driver: one BIRD 2 per zone, started by the zone's process with its own bird.conf,
 * control socket and pid file (`<anycast.bird.dir>/<zone>/`), never the system's service.
 * Changes are written to bird.conf and applied with `birdc configure`; sessions are read with
 * `birdc show protocols`. BIRD runs under `setpriv --pdeathsig KILL`, so a zone process that
 * dies (even by SIGKILL) takes its speaker with it and the neighbours drop its routes at once.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { findProgram } from '../core/find-program.ts';
import type { AnycastConfig } from '../topology/index.ts';
import {
  type Announcement,
  type BgpSession,
  parseBfdSessions,
  parseProtocols,
  renderBirdConf,
  sessionIndex,
} from './bird-conf.ts';
import { anycastErrors } from './errors.ts';

/** What the announcer drives: a BGP speaker that carries the announcements it is given. */
export interface Speaker {
  /** Starts the speaker with nothing announced. */
  start(): Promise<void>;
  /** Makes the speaker carry exactly `plan` (withdrawn prefixes are dropped). */
  apply(plan: readonly Announcement[]): Promise<void>;
  /** The BGP sessions and their state now. */
  sessions(): Promise<BgpSession[]>;
  /** Stops the speaker (its sessions close; neighbours drop its routes). */
  stop(): Promise<void>;
}

export { findProgram };

/** Where a zone's BIRD keeps its files. */
export function birdFiles(
  cfg: AnycastConfig,
  zone: string,
): { dir: string; conf: string; sock: string; pid: string; log: string } {
  const dir = join(cfg.bird.dir, zone);
  return {
    dir,
    conf: join(dir, 'bird.conf'),
    sock: join(dir, 'bird.ctl'),
    pid: join(dir, 'bird.pid'),
    log: join(dir, 'bird.log'),
  };
}

/** Options of a zone's BIRD. */
export interface BirdSpeakerOptions {
  config: AnycastConfig;
  zone: string;
  clock: Clock;
  /** How long BIRD may take to answer on its socket after start (ms; default 5000). */
  startTimeoutMs?: number;
  /** BIRD exited on its own and is started again (with the last plan), or could not be. */
  onRestart?(e: { attempt: number; ok: boolean; error?: unknown }): void;
}

/** Waits between attempts to start a BIRD that exited on its own (ms): doubling from the first. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;

/** The last lines of a file, for error messages. */
function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A zone's BIRD, started and driven by this process, and supervised: a BIRD that exits on its
 * own (killed, crashed) is started again with the last plan, backing off, so a zone does not
 * stay silent on BGP until its process restarts. `restarts` counts them.
 */
export function birdSpeaker(o: BirdSpeakerOptions): Speaker & { restarts(): number } {
  const f = birdFiles(o.config, o.zone);
  let child: ChildProcess | undefined;
  let exited = false;
  let bird = '';
  let birdc = '';
  let plan: readonly Announcement[] = [];
  let stopping = false;
  let restarts = 0;

  const birdcRun = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(birdc, ['-s', f.sock, ...args], { timeout: 5000 }, (err, stdout, stderr) => {
        const out = `${stdout}${stderr}`;
        if (/Unable to connect|Cannot connect|No such file|Connection refused/i.test(out) || (err && !stdout))
          reject(
            anycastErrors.ERR_ANYCAST_BIRDC_UNREACHABLE(
              `anycast/bird: birdc -s ${f.sock} ${args.join(' ')}: ${out.trim() || (err as Error).message} (is ${o.zone}'s BIRD running? log: ${f.log})`,
              { cause: err ?? undefined },
            ),
          );
        else resolve(out);
      });
    });

  const writeConf = (plan: readonly Announcement[]) => {
    writeFileSync(`${f.conf}.tmp`, renderBirdConf(o.config, o.zone, plan));
    renameSync(`${f.conf}.tmp`, f.conf);
  };

  /** A BIRD of an earlier run of this zone (its pid file names a bird reading our bird.conf): killed. */
  const killStale = () => {
    if (!existsSync(f.pid)) return;
    const pid = Number(readFileSync(f.pid, 'utf8').trim());
    try {
      if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(f.conf)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
    rmSync(f.pid, { force: true });
  };

  /** Starts BIRD on the current plan's configuration and waits until it answers. */
  const launch = async () => {
    killStale();
    rmSync(f.sock, { force: true });
    writeConf(plan);
    const fd = openSync(f.log, 'a');
    let c: ChildProcess;
    try {
      const argv = [bird, '-f', '-c', f.conf, '-s', f.sock, '-P', f.pid];
      const setpriv = findProgram('setpriv');
      c = setpriv
        ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', ...argv], { stdio: ['ignore', fd, fd] })
        : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    child = c;
    exited = false;
    const gone = () => {
      if (child !== c || exited) return;
      exited = true;
      if (!stopping && started) void supervise();
    };
    c.on('error', gone);
    c.on('exit', gone);
    const deadline = o.clock.now() + (o.startTimeoutMs ?? 5000);
    for (;;) {
      if (exited || child !== c)
        throw anycastErrors.ERR_ANYCAST_BIRD_START(
          `anycast/bird: ${o.zone}'s BIRD exited at start; ${f.log}:\n${tail(f.log)}`,
        );
      try {
        await birdcRun(['show', 'status']);
        return;
      } catch (e) {
        if (o.clock.now() >= deadline) {
          c.kill('SIGKILL');
          throw anycastErrors.ERR_ANYCAST_BIRD_START(
            `anycast/bird: ${o.zone}'s BIRD did not answer on ${f.sock}; ${f.log}:\n${tail(f.log)}`,
            { cause: e },
          );
        }
      }
      await o.clock.sleep(50);
    }
  };

  let started = false;
  let supervising = false;
  /** BIRD exited on its own: start it again with the last plan, backing off until it answers. */
  const supervise = async () => {
    if (supervising) return;
    supervising = true;
    try {
      for (let attempt = 1, wait = RESTART_FIRST_MS; !stopping; attempt++, wait = Math.min(wait * 2, RESTART_MAX_MS)) {
        await o.clock.sleep(wait);
        if (stopping) return;
        try {
          await launch();
          restarts++;
          o.onRestart?.({ attempt, ok: true });
          return;
        } catch (e) {
          o.onRestart?.({ attempt, ok: false, error: e });
        }
      }
    } finally {
      supervising = false;
    }
  };

  return {
    restarts: () => restarts,
    async start() {
      const b = findProgram(o.config.bird.bin);
      const c = findProgram(o.config.bird.birdc);
      if (!b || !c)
        throw anycastErrors.ERR_ANYCAST_BIRD_MISSING(
          `anycast/bird: ${!b ? o.config.bird.bin : o.config.bird.birdc} not found: install BIRD 2 (Debian: apt-get install bird2), or set anycast.bird.bin/birdc`,
        );
      bird = b;
      birdc = c;
      mkdirSync(f.dir, { recursive: true });
      stopping = false;
      plan = [];
      await launch();
      started = true;
    },
    async apply(next) {
      // kept first: a BIRD started again (supervise) reads it from its configuration file
      plan = next;
      writeConf(next);
      const out = await birdcRun(['configure']);
      if (!/Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(out))
        throw anycastErrors.ERR_ANYCAST_BIRD_CONFIG(`anycast/bird: birdc configure (${f.conf}): ${out.trim()}`);
    },
    async sessions() {
      const list = parseProtocols(await birdcRun(['show', 'protocols']));
      if (!o.config.bfd) return list;
      const bfd = parseBfdSessions(await birdcRun(['show', 'bfd', 'sessions']));
      const neighbors = o.config.zones[o.zone]?.neighbors ?? [];
      return list.map((s) => {
        const state = bfd.get(neighbors[sessionIndex(s.name)]?.address ?? '');
        return state ? { ...s, bfd: state } : s;
      });
    },
    async stop() {
      stopping = true;
      started = false;
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const ended = new Promise<boolean>((r) => c.once('exit', () => r(true)));
      // SIGTERM: BIRD closes its sessions with a Cease notification, so neighbours drop the routes now
      c.kill('SIGTERM');
      if (!(await Promise.race([ended, o.clock.sleep(2000).then(() => false)]))) c.kill('SIGKILL');
    },
  };
}
