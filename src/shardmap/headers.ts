/**
 * The routing headers zones put on requests and answers, defined once: routers set and read
 * them, apps echo them, drills verify by them. Lower-case, as node:http hands them over.
 */
export const HEADERS = {
  /** The shard map epoch the request was routed (or the answer served) by. */
  epoch: 'x-multizone-epoch',
  /** The shard the request's sharding key maps to. */
  shard: 'x-multizone-shard',
  /** The zone whose router forwarded the request. */
  from: 'x-multizone-from',
  /** Forwards so far (loop guard). */
  hop: 'x-multizone-hop',
  /** The zone that answered. */
  zone: 'x-multizone-zone',
  /** Set on a retry of a local 404 at the owner zone. */
  secondRead: 'x-multizone-second-read',
  /** The zone whose app served the request. */
  servedBy: 'x-multizone-served-by',
  /** Wall ms at which the app served it (drills compare it with moves). */
  servedAt: 'x-multizone-served-at',
  /** To an external app: the zone owning the request's shard at the epoch it was routed by. */
  owner: 'x-multizone-owner',
  /** To an external app: the zone holding the global role (the single writer of global resources). */
  global: 'x-multizone-global',
  /** To an external app: the epoch of the global role. */
  globalEpoch: 'x-multizone-global-epoch',
  /**
   * On a call one process's control API forwards to another's (cluster-wide conflicts, purge):
   * answer for your own zones only, never forward again. Signed (auth) like every zone-to-zone call.
   */
  forwarded: 'x-multizone-forwarded',
  /** A zone's HMAC signature over the request (src/trust); routers never pass a client's on. */
  auth: 'x-multizone-auth',
} as const;

/** The prefix every routing header shares (what a router strips from client requests). */
export const HEADER_PREFIX = 'x-multizone-';
