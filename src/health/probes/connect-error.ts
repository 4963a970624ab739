import type { PlatformError } from '../../core/errors.ts';
import { healthErrors } from '../errors.ts';

/** A socket error as ERR_HEALTH_PROBE_CONNECT, keeping the errno code in the message and cause. */
export function connectError(kind: string, id: string, e: unknown): PlatformError {
  const errno = (e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message ?? String(e);
  return healthErrors.ERR_HEALTH_PROBE_CONNECT(`health/${kind}: ${id}: ${errno}`, {
    cause: e,
    details: { errno },
  });
}
