/**
 * Where a zone keeps its sessions: `local` data in the lecture's sense — never replicated,
 * regenerable (losing one means "log in again"), and named by its zone so other zones know
 * whom to ask. In-process in embedded mode, Redis in distributed mode; both adapters pass
 * test/integration/session/session.contract.ts.
 */
export interface SessionStore {
  /** Stores a JSON value under `id` for `ttlMs`, replacing any session with that id. */
  put(id: string, value: unknown, ttlMs: number): Promise<void>;
  /**
   * The session's value (a fresh copy), or undefined when absent or expired. With `slideMs`
   * its expiry restarts at now + slideMs (sliding sessions), in the same step as the read.
   */
  get(id: string, opts?: { slideMs?: number }): Promise<unknown>;
  /** Removes a session; true when there was one. */
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9._-]{1,200}$/;

/** True when `id` is a session id every adapter accepts (it is also a Redis key suffix and a URL segment). */
export function validSessionId(id: string): boolean {
  return ID.test(id);
}
