import { defineErrors } from '../core/errors.ts';

/** Error codes the router answers with (JSON `{ error, message }`). */
export const routerErrors = defineErrors({
  ERR_ROUTER_BAD_KEY:
    'a sharding key is malformed: bad JWT, bad lat/lng, a mapping value that does not match, or too long',
  ERR_ROUTER_UNKNOWN_ZONE: 'a key names a zone the topology does not have',
  ERR_ROUTER_TOO_MANY_HOPS: 'a request was forwarded between routers more than router.maxHops times (421)',
  ERR_ROUTER_FENCED:
    'a write reached a zone that may not write the shard now: not the owner at this epoch, draining, lease lapsed, or the old lease has not expired yet (503)',
  ERR_ROUTER_UPSTREAM:
    'the local app or another zone’s router could not be reached or did not answer in time (502/504)',
  ERR_ROUTER_NO_MAP: 'the router has no shard map yet (503)',
  ERR_ROUTER_BODY_TOO_LARGE: 'a request body is larger than router.maxBodyBytes (413)',
  ERR_ROUTER_APP_MISDIRECTED:
    'an external app answered 421 (not mine) and, the owner looked up again, the request had nowhere else to go; retry after a moment (503)',
  ERR_ROUTER_APP_DOWN:
    "the zone's external app fails its health path: the zone's /_mz/health answers 503 and the zone gives up its lease (503)",
  ERR_ROUTER_BAD_REQUEST: 'the request itself is unusable: header block too large, bad request line (400/431)',
});
