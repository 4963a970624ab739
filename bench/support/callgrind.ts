/**
 * A Node script run under valgrind's callgrind, for the benches' `--instructions` modes:
 * counters are zeroed after the caller's warm-up and dumped after its measured load, and the
 * dump is read as instructions in all threads and in the event-loop thread ("main").
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function haveValgrind(): boolean {
  return spawnSync('valgrind', ['--version']).status === 0;
}

export class CallgrindRun {
  readonly child: ChildProcess;
  private readonly out: string;
  /** Dump files already read (each dump() reads the next one). */
  private readonly read = new Set<string>();

  /**
   * Starts `node --import ./bin/ts.mjs ...script` under callgrind, or with `native` the
   * program `script` names (a peer such as pdns_server); stdout is piped when asked.
   */
  constructor(
    private readonly dir: string,
    tag: string,
    script: string[],
    opts: { stdout?: 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv; native?: boolean } = {},
  ) {
    this.out = join(dir, `cg.${tag.replace(/\W/g, '')}.${Date.now()}`);
    this.child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--smc-check=all-non-file', // V8 writes code at run time
        `--callgrind-out-file=${this.out}.%p`,
        ...(opts.native ? script : [process.execPath, '--import', './bin/ts.mjs', ...script]),
      ],
      { stdio: ['ignore', opts.stdout ?? 'ignore', 'ignore'], env: opts.env ?? process.env },
    );
  }

  /** Starts counting from here. */
  zero(): void {
    spawnSync('callgrind_control', ['-z', String(this.child.pid)]);
  }

  /** Instructions since zero(): in all threads, and in the event-loop thread. */
  dump(): { all: number; main: number } {
    spawnSync('callgrind_control', ['-d', String(this.child.pid)]);
    const file = readdirSync(this.dir)
      .map((f) => join(this.dir, f))
      .find(
        (f) =>
          f.startsWith(`${this.out}.`) &&
          !this.read.has(f) &&
          /Trigger: .*[Dd]ump/.test(readFileSync(f, 'latin1').slice(0, 4000)),
      );
    if (!file) throw new Error('callgrind wrote no dump');
    this.read.add(file);
    const r = spawnSync('callgrind_annotate', ['--threshold=100', '--inclusive=yes', file], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    const num = (re: RegExp) => Number((re.exec(r.stdout)?.[1] ?? 'NaN').replaceAll(',', ''));
    return {
      all: num(/^\s*([\d,]+) \S+\s+PROGRAM TOTALS/m),
      main: num(/^\s*([\d,]+) \S+\s+\?\?\?:node::SpinEventLoopInternal/m),
    };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
