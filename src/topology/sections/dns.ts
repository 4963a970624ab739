import { z } from 'zod';

const hostname = z
  .string()
  .regex(/^([a-z0-9_-]+\.)+[a-z0-9-]+\.?$/i, 'must be a domain name like "ns1.shop.test"')
  .max(253);

/** `dns:` section of the topology file (owned by src/dns). Every field has a default. */
export const dnsSection = z
  .object({
    /** The apex SOA record. Names default to ns1.<apex> and hostmaster.<apex>. */
    soa: z
      .object({
        /** Primary name server; default `ns1.<apex>`. */
        mname: hostname.optional(),
        /** Responsible mailbox as a domain name (first label is the user); default `hostmaster.<apex>`. */
        rname: hostname.optional(),
        /** Zone serial; bump it when the zone's records change. */
        serial: z.number().int().min(0).max(4294967295).default(1),
        /** Seconds secondaries wait between refreshes (we have none, but the field is required). */
        refresh: z.number().int().min(0).max(2147483647).default(3600),
        /** Seconds before a failed refresh is retried. */
        retry: z.number().int().min(0).max(2147483647).default(600),
        /** Seconds after which a secondary stops answering. */
        expire: z.number().int().min(0).max(2147483647).default(604800),
        /** Negative-caching TTL (RFC 2308): the TTL of NXDOMAIN/NODATA answers. */
        minimum: z.number().int().min(0).max(86400).default(60),
      })
      .strict()
      .default({}),
    /**
     * NS records at the apex: name server name → zone whose dns listener address is its glue.
     * Default: `ns1.<apex>`, `ns2.<apex>`, … one per zone with a dns listener, in topology order.
     */
    ns: z.record(hostname, z.string().min(1)).optional(),
    /** Largest UDP reply we send, whatever the client's EDNS buffer says (RFC 9715 suggests 1232). */
    maxUdpPayload: z.number().int().min(512).max(4096).default(1232),
    /** A TCP connection with no query for this long is closed (RFC 7766 §6.2.3). */
    tcpIdleTimeoutMs: z.number().int().min(100).max(300000).default(10000),
    /** Encoded replies kept for reuse, keyed by name, type, client subnet and steering state. */
    cacheSize: z.number().int().min(0).max(10_000_000).default(100_000),
    /** Per-source response-rate limiting (a /24 or /56 shares one token bucket), UDP only. */
    rrl: z
      .object({
        enabled: z.boolean().default(true),
        /** Sustained replies per second per source network. */
        responsesPerSecond: z.number().positive().default(1000),
        /** Bucket size: replies a source may get in a burst. */
        burst: z.number().int().positive().default(2000),
        /** Every Nth limited reply is sent as an empty TC=1 reply so real clients retry over TCP; 0 = never. */
        slip: z.number().int().min(0).max(100).default(2),
      })
      .strict()
      .default({}),
    /**
     * Processes answering each zone's DNS sockets (UDP and TCP): the zone's own and
     * `workers - 1` it forks and restarts; `auto`: one per CPU. Each keeps its own answer
     * cache and rate-limit buckets (a source may get `workers` × the RRL rate) and follows
     * the zone's health and load verdicts. Not with a `latency: true` policy (the speed
     * reports it ranks by live in the zone's process).
     */
    workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default(1),
  })
  .strict()
  .default({});

/** The validated `dns:` section. */
export type DnsConfig = z.output<typeof dnsSection>;
