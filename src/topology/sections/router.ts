import { z } from 'zod';

/** `router:` section of the topology file (owned by src/router). */
export const routerSection = z
  .object({
    /** Where requests without a sharding key go: this zone's app, or the core zone. */
    defaultZone: z.enum(['local', 'core']).default('local'),
    /** Forwards between routers before a request is refused with 421. */
    maxHops: z.number().int().min(1).max(8).default(2),
    /** Upstream timeouts (ms). */
    timeouts: z
      .object({
        /** Connecting to the local app or another zone's router. */
        connectMs: z.number().int().min(10).max(60_000).default(1000),
        /** Waiting for response headers. */
        headersMs: z.number().int().min(10).max(300_000).default(10_000),
        /** Idle time between body chunks. */
        bodyMs: z.number().int().min(10).max(300_000).default(30_000),
      })
      .strict()
      .default({}),
    /** Kept-alive connections per upstream (local app, each other zone's router). */
    pool: z
      .object({
        connections: z.number().int().min(1).max(1024).default(64),
        keepAliveMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .strict()
      .default({}),
    /** The routing cookie (`<zone>:<shard>`) edges and the SDK read to go straight to the zone. */
    cookie: z
      .object({
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default('mz_zone'),
        maxAgeS: z.number().int().min(0).max(31_536_000).default(86_400),
      })
      .strict()
      .default({}),
    /** Largest request header block (bytes); more gets 431. */
    maxHeaderBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
    /** Largest request body (bytes) a router accepts; more gets 413 (ERR_ROUTER_BODY_TOO_LARGE). */
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    /** Longest sharding key or mapping value (characters); more gets 400. */
    maxKeyLength: z.number().int().min(8).max(4096).default(256),
    /** How long a router waits (ms) for its map to catch up with a newer epoch a peer sent. */
    epochWaitMs: z.number().int().min(0).max(10_000).default(500),
    /** Second read: a local 404 on a sharded GET is retried once at the owner zone. */
    secondRead: z.boolean().default(true),
    /**
     * Processes serving each zone's router listeners: the zone's own process and `workers - 1`
     * router workers it starts and restarts, all accepting on the same sockets. `auto`: one
     * per CPU. Each routes by a copy of its zone's shard map and lease, sent on every change
     * and every 200 ms; each keeps its own upstream pools and its own nonce cache.
     */
    workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  })
  .strict()
  .default({});

export type RouterConfig = z.output<typeof routerSection>;
