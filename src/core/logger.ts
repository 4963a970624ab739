import { type Logger, pino } from 'pino';

export type { Logger };

/** The process logger; level from MZ_LOG_LEVEL (default info, silent under node:test). */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  const level = opts.level ?? process.env.MZ_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
  return pino({ level, name: opts.name ?? 'multizone' });
}

/** A logger that drops everything, for tests and benchmarks. */
export const silentLogger: Logger = pino({ level: 'silent' });
