import { sessionErrors } from './errors.ts';
import { validSessionId } from './types.ts';

/** Throws ERR_SESSION_BAD_INPUT for an id or TTL no adapter accepts. */
export function checkId(id: string): void {
  if (!validSessionId(id))
    throw sessionErrors.ERR_SESSION_BAD_INPUT(
      `session id ${JSON.stringify(String(id).slice(0, 60))} is not 1–200 characters of [A-Za-z0-9._-]`,
    );
}

export function checkTtl(ttlMs: number, what = 'ttlMs'): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw sessionErrors.ERR_SESSION_BAD_INPUT(`${what} must be a positive integer of milliseconds, got ${ttlMs}`);
}

/** JSON text of a session value; undefined and functions are not session values. */
export function encodeValue(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw sessionErrors.ERR_SESSION_BAD_INPUT('a session value must be JSON (got undefined)');
  return json;
}
