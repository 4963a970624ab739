/** The CLI as a process: `multizone up|zone … --json` started and stopped the way tests need. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(process.cwd(), 'bin', 'multizone.js');

/** One listener of the `--json` line. */
export interface CliEndpoint {
  zone: string | null;
  role: string;
  host: string;
  port: number;
}

/** A started CLI process, its `--json` line and what it printed on stderr so far. */
export interface StartedCli {
  child: ChildProcess;
  info: { control: string; endpoints: CliEndpoint[] };
  stderr: () => string;
}

/**
 * Spawns the CLI and resolves with the process and its `--json` line once it is up (the
 * logger's lines, JSON too, may come first on stdout: the endpoints line is the one with
 * `control`); rejects with its stderr when it exits first.
 */
export async function startCli(args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<StartedCli> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.env ? { env: o.env } : {}),
    ...(o.cwd ? { cwd: o.cwd } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const line: string = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const l = buf
        .split('\n')
        .slice(0, -1) // whole lines only
        .find((x) => x.startsWith('{"control":'));
      if (l) resolve(l);
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${stderr}`)));
  });
  return { child, info: JSON.parse(line), stderr: () => stderr };
}

/** SIGTERM, then the exit code (or the signal that ended it), once its output is all read. */
export function stopCli(child: ChildProcess): Promise<number | string | null> {
  return new Promise((resolve) => {
    child.once('close', (c, signal) => resolve(c ?? signal));
    child.kill('SIGTERM');
  });
}
