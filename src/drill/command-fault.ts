import { spawn } from 'node:child_process';
import { drillErrors } from './errors.ts';
import type { ExternalFault } from './types.ts';

/** How long a fault or heal command may run before the drill gives up on it (ms). */
const COMMAND_TIMEOUT_MS = 60_000;

/**
 * A fault made by the operator's own commands (`--fault-cmd 'ssh gz-a systemctl kill -s KILL
 * multizone'`, a link cut, …), run with `sh -c` and MZ_ZONE / MZ_MODE in the environment. A
 * command that fails (non-zero exit, or still running after 60 s) fails the drill with its stderr.
 */
export function commandFault(
  cut: string,
  heal: string | undefined,
  env: { zone: string; mode: string },
): ExternalFault {
  const vars = { MZ_ZONE: env.zone, MZ_MODE: env.mode };
  return {
    cut: () => runCommand('fault', cut, vars),
    heal: () => (heal ? runCommand('heal', heal, vars) : Promise.resolve()),
  };
}

function runCommand(what: string, cmd: string, vars: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { env: { ...process.env, ...vars }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS); // lint-allow: a child process's deadline, not the drill's clock
    child.on('error', (e) =>
      reject(drillErrors.ERR_DRILL_COMMAND(`drill: ${what} command \`${cmd}\` did not run: ${e.message}`)),
    );
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          drillErrors.ERR_DRILL_COMMAND(
            `drill: ${what} command \`${cmd}\` ${signal ? `was killed (${signal}, over ${COMMAND_TIMEOUT_MS / 1000} s)` : `exited ${code}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
          ),
        );
    });
  });
}
