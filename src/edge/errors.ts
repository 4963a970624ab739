import { defineErrors } from '../core/errors.ts';

/** Error codes of the edge plane (src/edge). */
export const edgeErrors = defineErrors({
  ERR_EDGE_BAD_REQUEST: 'the edge rejected a malformed request (bad request target, framing or header)',
  ERR_EDGE_UPSTREAM: 'every upstream (parents, origin paths, origin) failed or timed out for a fetch',
  ERR_EDGE_COLLAPSE_TIMEOUT: 'a request waiting on a collapsed fetch for the same object gave up waiting',
  ERR_EDGE_UNAUTHORIZED: 'an admin call (purge, push, preload) lacked the right bearer token',
  ERR_EDGE_STORE_OPEN: 'the disk store ring file could not be opened or created',
  ERR_EDGE_FSM_LOOP: 'a request went through more state-machine restarts than the cap allows',
  ERR_EDGE_INVALID_OPTION: 'an edge option (TLS files, origin URL, …) is invalid',
  ERR_EDGE_UNKNOWN_HOST: 'a request named a Host the edge does not serve (421 Misdirected Request)',
  ERR_EDGE_METHOD_NOT_ALLOWED: 'the edge refuses the method itself (TRACE, CONNECT): 405',
  ERR_EDGE_PUBLISH: 'multizone publish could not read, fingerprint or push a file',
});
