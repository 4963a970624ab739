/** sysexits.h: bad configuration. */
export const EX_CONFIG = 78;
/** sysexits.h: not permitted (the lab without root). */
export const EX_NOPERM = 77;
/** sysexits.h: the command was used wrongly (unknown option, missing argument). */
export const EX_USAGE = 64;

/** Output sinks, injectable for tests. */
export interface Io {
  out(s: string): void;
  err(s: string): void;
}

/** Set once stdout's reader has gone (`multizone conflicts | head -1`): later output is dropped. */
let stdoutGone = false;
let stderrGone = false;
let guarded = false;

/**
 * Makes a closed stdout pipe quiet: EPIPE (the reader exited) stops further output instead of
 * crashing the process with an unhandled 'error' event and a stack trace. The command carries
 * on and exits with its own code; a long-running one (`up`) keeps running. Installed once by
 * main() for the real stdio.
 */
export function guardStdout(): void {
  if (guarded) return;
  guarded = true;
  const gone = (e: NodeJS.ErrnoException) => e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED';
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (!gone(e)) throw e;
    stdoutGone = true;
  });
  process.stderr.on('error', (e: NodeJS.ErrnoException) => {
    if (!gone(e)) throw e;
    stderrGone = true;
  });
}

/** The process's stdout and stderr, a line per call. */
export const stdio: Io = {
  out: (s) => {
    if (!stdoutGone) process.stdout.write(`${s}\n`);
  },
  err: (s) => {
    if (!stderrGone) process.stderr.write(`${s}\n`);
  },
};
