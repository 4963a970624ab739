/**
 * One base class for every error multizone raises on purpose. `code` is a stable contract
 * (listed in docs/errors.md); `message` is for people and may change.
 */
const BRAND = Symbol.for('multizone.PlatformError');

/** Every declared code with its one-line meaning; filled by each capability's errors.ts. */
export const errorRegistry = new Map<string, string>();

export class PlatformError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  readonly [BRAND] = true;

  constructor(code: string, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PlatformError';
    this.code = code;
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** True for a PlatformError from any copy of this package (bundled twice, e.g. the SDK). */
export function isPlatformError(e: unknown): e is PlatformError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/**
 * Declares a capability's codes once and returns a typed constructor for each.
 * `defineErrors({ ERR_GEO_BAD_IP: 'the address is not an IPv4 or IPv6 address' })`
 */
export function defineErrors<const T extends Record<string, string>>(
  codes: T,
): {
  [K in keyof T]: (message: string, opts?: { cause?: unknown; details?: Record<string, unknown> }) => PlatformError;
} {
  const out: Record<string, (m: string, o?: { cause?: unknown; details?: Record<string, unknown> }) => PlatformError> =
    {};
  for (const [code, meaning] of Object.entries(codes)) {
    if (!/^ERR_[A-Z0-9]+_[A-Z0-9_]+$/.test(code)) throw new Error(`bad error code ${code}`);
    errorRegistry.set(code, meaning);
    out[code] = (message, opts) => new PlatformError(code, message, opts);
  }
  return out as never;
}

export const coreErrors = defineErrors({
  ERR_CONFIG_INVALID: 'a configuration file failed validation; every problem is listed with file, line and path',
  ERR_CONFIG_READ: 'a configuration file could not be read or parsed as YAML',
  ERR_CORE_INVALID_ARG: 'a function was called with an argument outside its contract',
  ERR_CORE_LISTEN: 'a listener could not bind its address (in use, or the address is not on this machine)',
});
