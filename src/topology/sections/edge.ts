import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\d{1,3}(\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:.]+\]):\d{1,5}$/, 'must be "host:port", e.g. "127.0.0.1:0"');
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http:// or https:// URL');

/** `edge:` section of the topology file (owned by src/edge). Every zone's edge uses it. */
export const edgeSection = z
  .object({
    /** Static origin URL. Unset: `multizone up` starts the built-in demo origin per zone. */
    origin: httpUrl.optional(),
    /** Where the built-in demo origin listens when `origin` is unset. */
    demoOrigin: hostPort.default('127.0.0.1:0'),
    /** Extra paths to the origin (e.g. another zone's edge as a relay), picked by measured latency and errors. */
    originPaths: z.array(httpUrl).default([]),
    /** Parent edges (second tier), chosen per object by consistent hashing; failover to the next, then the origin. */
    parents: z.array(httpUrl).default([]),
    /** Path prefixes that are dynamic calls, sent to the zone's router (or its app when it has none). */
    dynamicPrefixes: z.array(z.string().startsWith('/')).default(['/api/']),
    /** Bearer token for purge, push and preload; empty disables the admin API (MZ_EDGE_TOKEN overrides). */
    adminToken: z.string().default(''),
    cache: z
      .object({
        /** Memory tier budget, bytes (LRU by bytes). */
        memoryBytes: z
          .number()
          .int()
          .min(1024)
          .default(64 * 1024 * 1024),
        /** Larger responses are streamed through, not stored. */
        maxObjectBytes: z
          .number()
          .int()
          .min(1)
          .max(1024 * 1024 * 1024)
          .default(8 * 1024 * 1024),
        /** Heuristic freshness: this fraction of the time since Last-Modified (RFC 9111 §4.2.2). */
        heuristicFraction: z.number().min(0).max(1).default(0.1),
        /** Cap of a heuristic lifetime, seconds. */
        heuristicMaxSeconds: z.number().int().min(0).default(86400),
        /** Lifetime of a 404 without freshness information, seconds (0 disables). */
        negative404Seconds: z.number().int().min(0).default(10),
        /** Lifetime of a 500/502/503/504 without freshness information, seconds (0, the default: not stored). */
        negative5xxSeconds: z.number().int().min(0).default(0),
        /** How long a collapsed request waits for the fetch it joined, ms. */
        collapseTimeoutMs: z.number().int().min(1).default(5000),
        /** After an uncacheable answer, requests for the key skip collapsing for this long, seconds. */
        hitForPassSeconds: z.number().int().min(0).default(10),
      })
      .strict()
      .default({}),
    disk: z
      .object({
        /**
         * Ring file of the disk tier; empty disables the disk tier. `{zone}` is replaced by the
         * zone's name; without it, a process running several zones gives each `<path>.<zone>`.
         */
        path: z.string().default(''),
        /** Ring size, bytes (preallocated). */
        sizeBytes: z
          .number()
          .int()
          .min(64 * 1024)
          .default(256 * 1024 * 1024),
      })
      .strict()
      .default({}),
    limits: z
      .object({
        /** Longest request target, bytes (414 above). */
        maxUrlBytes: z.number().int().min(64).max(65536).default(8192),
        /** Largest request header block, bytes (431 above). */
        maxHeaderBytes: z.number().int().min(1024).max(65536).default(16384),
        /** Most request header fields (431 above). */
        maxHeaders: z.number().int().min(8).max(1000).default(100),
        /** Largest request body forwarded upstream, bytes (413 above). */
        maxBodyBytes: z
          .number()
          .int()
          .min(0)
          .default(16 * 1024 * 1024),
      })
      .strict()
      .default({}),
    pool: z
      .object({
        /** Connections per upstream target. */
        connections: z.number().int().min(1).max(4096).default(64),
        /** Idle keep-alive, ms. */
        keepAliveMs: z.number().int().min(0).default(30000),
        /** Wait for response headers, ms. */
        headersTimeoutMs: z.number().int().min(1).default(10000),
        /** Wait between body chunks, ms. */
        bodyTimeoutMs: z.number().int().min(1).default(30000),
      })
      .strict()
      .default({}),
    compression: z
      .object({
        /** Compress text-like bodies on the fly (gzip, brotli) by Accept-Encoding. */
        enabled: z.boolean().default(true),
        /** Smaller bodies are sent as they are. */
        minBytes: z.number().int().min(0).default(1024),
      })
      .strict()
      .default({}),
    /** TLS termination (HTTP/2 via ALPN, HTTP/1.1 too) with these PEM files; unset: plain HTTP. */
    tls: z
      .object({ cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    /**
     * Sites this edge serves: names (any port), `*.suffix` for subdomains, or `name:port`. Other
     * Hosts get 421. Empty: the apex and every service with `role: edge`. The edge's own listen
     * address is always served (health probes, zone redirects).
     */
    hosts: z
      .array(
        z
          .string()
          .toLowerCase()
          .regex(/^(\*\.)?[a-z0-9.\-[\]:]+$/, 'must be a host name, "*.suffix" or "name:port"'),
      )
      .default([]),
    /** Hosts that serve only static objects: Cookie is stripped from requests and Set-Cookie from responses. */
    staticHosts: z.array(z.string().toLowerCase()).default([]),
    /** Answer 302 to the zone named by the `mz_zone` cookie when it is another zone with an edge. */
    zoneRedirect: z.boolean().default(false),
    /**
     * Serve cache hits on the lean path: the plain-HTTP listener parses request heads itself and
     * answers hits from pre-serialised header blocks; a miss or anything unusual moves the
     * connection to node:http. Off: every request takes node:http. Not used with `tls`.
     */
    leanHits: z.boolean().default(true),
    /**
     * Processes serving each zone's edge listeners: the zone's own process and `workers - 1`
     * edge workers it starts and restarts, all accepting on the same sockets (as nginx's and
     * ATS's workers do). `auto`: one per CPU. Each worker has its own memory tier and its own
     * disk ring (`disk.path` + `.w1`, `.w2`, …, emptied when the worker starts); purges, pushes,
     * preloads and invalidations reach every worker before the admin call answers.
     */
    workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  })
  .strict()
  .default({});
