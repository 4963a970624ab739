/**
 * How our NATS clients notice a dead server. A partitioned server sends no RST, so a client
 * only learns through its pings: nats.js pings every 2 minutes by default, and a zone whose
 * connection went to a cut-off server lost its Kv (leases, votes) and its log for 108 s in the
 * lab. A ping every 2 s with 2 outstanding reconnects it elsewhere in 4-6 s.
 */
export const NATS_LIVENESS = { pingInterval: 2000, maxPingOut: 2 } as const;
