import { defineErrors } from '../core/errors.ts';

export const sessionErrors = defineErrors({
  ERR_SESSION_BAD_INPUT: 'a session id is not 1–200 characters of [A-Za-z0-9._-], or a TTL is not a positive integer',
  ERR_SESSION_UNAVAILABLE: 'the session store (e.g. the Redis server) cannot be reached or refused the command',
  ERR_SESSION_CLOSED: 'the session store was used after close()',
});
