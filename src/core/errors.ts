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
): { [K in keyof T]: ErrorCtor<K & string> } {
  const out: Record<string, ErrorCtor> = {};
  for (const [code, meaning] of Object.entries(codes)) {
    if (!/^ERR_[A-Z0-9]+_[A-Z0-9_]+$/.test(code)) throw new Error(`bad error code ${code}`);
    errorRegistry.set(code, meaning);
    out[code] = Object.assign((message: string, opts?: ErrorOpts) => new PlatformError(code, message, opts), { code });
  }
  return out as never;
}

type ErrorOpts = { cause?: unknown; details?: Record<string, unknown> };

/**
 * A declared code's constructor; `.code` is the code itself, so code compares it through its
 * definition (`e.code === storeErrors.ERR_STORE_UNAVAILABLE.code`), never a string literal.
 */
export type ErrorCtor<C extends string = string> = ((message: string, opts?: ErrorOpts) => PlatformError) & {
  readonly code: C;
};

/** True when `e` carries the code `ctor` declares (a PlatformError from any copy, or a plain object with `code`). */
export function hasCode(e: unknown, ctor: { readonly code: string }): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === ctor.code;
}

export const coreErrors = defineErrors({
  ERR_CONFIG_INVALID: 'a configuration file failed validation; every problem is listed with file, line and path',
  ERR_CONFIG_READ: 'a configuration file could not be read or parsed as YAML',
  ERR_CORE_INVALID_ARG: 'a function was called with an argument outside its contract',
  ERR_CORE_LISTEN: 'a listener could not bind its address (in use, or the address is not on this machine)',
  ERR_CORE_WORKER_START: 'a worker process (edge.workers, dns.workers) exited or did not report ready while it started',
});
