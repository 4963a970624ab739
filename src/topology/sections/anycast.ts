import { z } from 'zod';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes, starting with a letter');

const ipv4 = z.string().ip({ version: 'v4', message: 'must be an IPv4 address like "10.77.0.1"' });

/** 'a.b.c.d/len' (IPv4; the address must be the network's first, as BGP announces it). */
const ipv4Prefix = z
  .string()
  .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'must be an IPv4 prefix like "10.77.9.53/32"')
  .refine((p) => {
    const [addr, len] = p.split('/') as [string, string];
    const parts = addr.split('.').map(Number);
    const bits = Number(len);
    if (bits > 32 || parts.some((x) => x > 255)) return false;
    const n = parts.reduce((a, x) => a * 256 + x, 0);
    return bits === 32 || n % 2 ** (32 - bits) === 0;
  }, 'must be a network address with its length (host bits zero), at most /32');

const asNumber = z.number().int().min(1).max(4_294_967_295);

/** 'ASN:value' (a standard BGP community, RFC 1997). */
const community = z
  .string()
  .regex(/^\d{1,5}:\d{1,5}$/, 'must be a BGP community "ASN:value" like "65001:100"')
  .refine((c) => c.split(':').every((x) => Number(x) <= 65535), 'both halves must be 0..65535');

/** One BGP neighbour of a zone's BGP speaker (the upstream router it announces to). */
const neighborSchema = z
  .object({
    /** The neighbour's address. */
    address: ipv4,
    /** The neighbour's AS number. */
    as: asNumber,
    /** Its BGP port (179 unless a test runs speakers side by side on one host). */
    port: z.number().int().min(1).max(65535).default(179),
  })
  .strict();

/** One zone's BGP speaker: its identity, neighbours and the preference it expresses. */
const anycastZoneSchema = z
  .object({
    /** BIRD's router id (an IPv4 address unique among the speakers, usually the zone's own address). */
    routerId: ipv4,
    /** The local address the sessions are made from (default: BIRD picks by route). */
    source: ipv4.optional(),
    /** The local BGP port (179 unless a test runs speakers side by side on one host). */
    port: z.number().int().min(1).max(65535).default(179),
    /** Upstream routers this zone announces to. */
    neighbors: z.array(neighborSchema).min(1),
    /** AS-path prepends on every announcement of this zone: >0 makes it a backup zone the network prefers less. */
    prepend: z.number().int().min(0).max(8).default(0),
    /** MED sent with its announcements (lower is preferred by a neighbour comparing MEDs). */
    med: z.number().int().min(0).max(4_294_967_295).optional(),
  })
  .strict();

/** One anycast prefix: the service addresses a role listens on in every zone that announces it. */
const prefixSchema = z
  .object({
    /** The prefix announced, e.g. 10.77.9.53/32. For a /32 the role also listens on its address. */
    prefix: ipv4Prefix,
    /** The role whose health verdict (by the health plane's quorum) decides the announcement. */
    role: z.enum(['dns', 'httpdns', 'edge', 'router']),
    /** Zones that announce it (default: every zone with an `anycast.zones` entry). */
    zones: z.array(name).optional(),
    /** Standard communities attached to the announcement. */
    communities: z.array(community).default([]),
  })
  .strict();

/** `anycast:` section of the topology file (owned by src/anycast): BGP announcements of service prefixes. */
export const anycastSection = z
  .object({
    /** The zones' AS number (every zone announces from the same AS, as anycast sites do). */
    localAs: asNumber,
    /** Named prefixes, each announced by its zones while their role is healthy. */
    prefixes: z.record(name, prefixSchema),
    /** Each announcing zone's BGP speaker. */
    zones: z.record(name, anycastZoneSchema),
    /**
     * What a zone does when its role is unhealthy, it lost its lease or it is drained:
     * `withdraw` the prefix, or keep it with `downPrepend` extra AS-path prepends (a last
     * resort the network uses only when no healthy zone announces). Shutdown always withdraws.
     */
    onDown: z.enum(['withdraw', 'prepend']).default('withdraw'),
    /** Extra prepends of a zone that is down, with `onDown: prepend`. */
    downPrepend: z.number().int().min(1).max(8).default(4),
    /**
     * Flap damping (ms): a zone that comes back (healthy, lease held, not drained) announces
     * again only after staying so this long; also the wait after start.
     */
    riseMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /** How often the zone re-evaluates its inputs and reads its BGP sessions (ms). */
    checkMs: z.number().int().min(50).max(60_000).default(500),
    /** On shutdown: time (ms) between the withdrawal and closing the listeners, for the network to converge. */
    withdrawGraceMs: z.number().int().min(0).max(60_000).default(2000),
    /** BGP session timers (seconds). */
    bgp: z
      .object({
        /** Hold time: a neighbour unheard of this long is down (and its routes withdrawn). */
        holdTimeS: z.number().int().min(3).max(65535).default(9),
        /** Keepalive interval; at most a third of the hold time. */
        keepaliveS: z.number().int().min(1).max(21845).default(3),
        /** Wait between attempts to connect to a neighbour. */
        connectRetryS: z.number().int().min(1).max(3600).default(5),
      })
      .strict()
      .default({}),
    /**
     * BFD (RFC 5880/5881) under every BGP session: a neighbour unheard for `intervalMs` ×
     * `multiplier` is down at once, well before the hold time (≥ 3 s). The neighbour must run
     * BFD too. Off when absent.
     */
    bfd: z
      .object({
        /** Desired transmit and required receive interval (ms). */
        intervalMs: z.number().int().min(10).max(10_000).default(200),
        /** Missed packets before the session is down (detection time = intervalMs × multiplier). */
        multiplier: z.number().int().min(2).max(255).default(3),
      })
      .strict()
      .optional(),
    /** The BGP speaker: BIRD 2 (Debian package `bird2`), one instance per zone, started by the zone's process. */
    bird: z
      .object({
        /** The `bird` daemon. */
        bin: z.string().min(1).default('bird'),
        /** Its control client. */
        birdc: z.string().min(1).default('birdc'),
        /** Folder for each zone's bird.conf, control socket, pid file and log (`<dir>/<zone>/`). */
        dir: z.string().min(1).default('/run/multizone/anycast'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.bgp.keepaliveS * 3 > a.bgp.holdTimeS)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['bgp', 'keepaliveS'],
        message: `keepaliveS (${a.bgp.keepaliveS}) must be at most a third of holdTimeS (${a.bgp.holdTimeS})`,
      });
    for (const [pn, p] of Object.entries(a.prefixes))
      (p.zones ?? []).forEach((zn, i) => {
        if (!a.zones[zn])
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['prefixes', pn, 'zones', i],
            message: `zone "${zn}" announces ${p.prefix} but has no anycast.zones entry (its BGP speaker)`,
          });
      });
  })
  .optional();

export type AnycastConfig = NonNullable<z.output<typeof anycastSection>>;
export type AnycastPrefixConfig = z.output<typeof prefixSchema>;
export type AnycastZoneConfig = z.output<typeof anycastZoneSchema>;
