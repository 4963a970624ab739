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

/** The process's stdout and stderr, a line per call. */
export const stdio: Io = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
};
