import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Clock } from '../core/clock.ts';
import { findProgram } from '../core/find-program.ts';
import { labErrors } from './errors.ts';
import type { LabLayout, LabZone } from './topology-gen.ts';

/** Runs a command to completion; a non-zero exit is ERR_LAB_COMMAND with its stderr, unless `allowFail`. */
export function run(
  cmd: string,
  args: string[],
  o: { allowFail?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      if (err && !o.allowFail)
        reject(
          labErrors.ERR_LAB_COMMAND(`lab: ${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`, {
            cause: err,
          }),
        );
      else resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The program's path (see findProgram). */
export const findTool = findProgram;

/** Adds the prohibit route for `guard` (first, so nothing of the lab's subnet can leave the machine). */
export async function addGuardRoute(guard: string): Promise<void> {
  await run('ip', ['route', 'add', 'prohibit', guard]);
}

/** The bridge in the root namespace with the lab's first address, up. */
export async function createBridge(l: LabLayout): Promise<void> {
  await run('ip', ['link', 'add', l.bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${l.bridgeIp}/${l.prefixLen}`, 'dev', l.bridge]);
  await run('ip', ['link', 'set', l.bridge, 'up']);
}

/** The zone's namespace: loopback up, a veth pair (eth0 inside with the zone's address, the other end on the bridge). No default route: the namespace reaches the lab subnet only. */
export async function createZoneNs(l: LabLayout, z: LabZone): Promise<void> {
  await run('ip', ['netns', 'add', z.ns]);
  await run('ip', ['-n', z.ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['link', 'add', z.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', z.ns]);
  await run('ip', ['link', 'set', z.veth, 'master', l.bridge]);
  await run('ip', ['link', 'set', z.veth, 'up']);
  await run('ip', ['-n', z.ns, 'addr', 'add', `${z.ip}/${l.prefixLen}`, 'dev', 'eth0']);
  await run('ip', ['-n', z.ns, 'link', 'set', 'eth0', 'up']);
}

/** Takes a link up or down (the partition fault takes the zone's veth down). */
export async function setLink(dev: string, state: 'up' | 'down'): Promise<void> {
  await run('ip', ['link', 'set', dev, state]);
}

/**
 * Starts argv in namespace `ns` (as `user` when given, through setpriv), detached in its own
 * process group with stdout and stderr appended to `log`; returns its pid (`ip netns exec` and
 * setpriv exec, so the pid is the program's).
 */
export function spawnInNs(ns: string, argv: string[], log: string, o: { user?: string; cwd?: string } = {}): number {
  const fd = openSync(log, 'a');
  try {
    const asUser = o.user ? ['setpriv', `--reuid=${o.user}`, `--regid=${o.user}`, '--init-groups', '--'] : [];
    const child = spawn('ip', ['netns', 'exec', ns, ...asUser, ...argv], {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(o.cwd ? { cwd: o.cwd } : {}),
    });
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) throw labErrors.ERR_LAB_COMMAND(`lab: could not start ${argv[0]} in ${ns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True while the process runs; a zombie counts as gone (in a container, pid 1 may never reap it). */
export function alive(pid: number): boolean {
  try {
    // /proc/PID/stat: `pid (comm) S …`; the comm may hold spaces and parentheses
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILLs a process group (and the process itself), then waits up to 5 s for it to go. */
export async function killGroup(pid: number, clock: Clock): Promise<void> {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 100 && alive(pid); i++) await clock.sleep(50);
}

/** SIGTERMs a process (a clean stop), waits up to `timeoutMs` for it to go, then SIGKILLs its group. */
export async function stopGroup(pid: number, clock: Clock, timeoutMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  for (let waited = 0; waited < timeoutMs && alive(pid); waited += 50) await clock.sleep(50);
  if (alive(pid)) await killGroup(pid, clock);
}

/** Pids of every process in namespace `ns` (none when it does not exist). */
export async function nsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  return r.code === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

/** The lab namespaces that exist now (names starting with `prefix`). */
export async function listNamespaces(prefix: string): Promise<string[]> {
  const r = await run('ip', ['netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((line) => line.split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Kills whatever still runs in the namespace, then deletes it (its veth pair goes with it). */
export async function removeNs(ns: string, clock: Clock): Promise<void> {
  for (const pid of await nsPids(ns)) await killGroup(pid, clock);
  await run('ip', ['netns', 'del', ns], { allowFail: true });
}

/** True when the network device exists. */
export async function linkExists(dev: string): Promise<boolean> {
  return (await run('ip', ['link', 'show', dev], { allowFail: true })).code === 0;
}

/** Deletes a device if it exists. */
export async function removeLink(dev: string): Promise<void> {
  if (await linkExists(dev)) await run('ip', ['link', 'del', dev], { allowFail: true });
}

/** True when the prohibit route for `guard` is there. */
export async function guardExists(guard: string): Promise<boolean> {
  const r = await run('ip', ['route', 'show', 'type', 'prohibit'], { allowFail: true });
  // lines read `prohibit 10.77.0.0/16 …`
  return r.stdout.split('\n').some((line) => line.trim().split(/\s+/).includes(guard));
}

/** Removes the prohibit route if it is there. */
export async function removeGuardRoute(guard: string): Promise<void> {
  if (await guardExists(guard)) await run('ip', ['route', 'del', 'prohibit', guard], { allowFail: true });
}
