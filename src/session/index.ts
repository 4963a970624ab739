/** Zone-local sessions behind one interface: in-process (embedded) and Redis (distributed). See README.md. */

export { sessionErrors } from './errors.ts';
export { MemorySessionStore } from './memory-session-store.ts';
export { openSessionStore, type SessionConfig } from './open.ts';
export { RedisSessionStore, type RedisSessionStoreOptions } from './redis-session-store.ts';
export { type SessionStore, validSessionId } from './types.ts';
