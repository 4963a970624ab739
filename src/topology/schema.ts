import { z } from 'zod';
import { ISP_IDS, PROVINCE_CODES } from '../geo/index.ts';
import { anycastSection } from './sections/anycast.ts';
import { appSection } from './sections/app.ts';
import { dnsSection } from './sections/dns.ts';
import { edgeSection } from './sections/edge.ts';
import { failoverSection } from './sections/failover.ts';
import { healthSection } from './sections/health.ts';
import { httpdnsSection } from './sections/httpdns.ts';
import { replicationSection } from './sections/replication.ts';
import { routerSection } from './sections/router.ts';
import { sessionSection } from './sections/session.ts';
import { steeringSection } from './sections/steering.ts';
import { storeSection } from './sections/store.ts';
import { trustSection } from './sections/trust.ts';

/** Roles a zone can listen for; each zone runs the whole stack. */
export const ROLES = ['dns', 'httpdns', 'edge', 'router', 'app', 'control'] as const;
export type Role = (typeof ROLES)[number];

const name = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes, starting with a letter');

/** 'host:port' with an IPv4 address, 'localhost' or a bracketed IPv6 address. Port 0 = any. */
const listenAddr = z
  .string()
  .regex(
    /^(\d{1,3}(\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:.]+\]):\d{1,5}$/,
    'must be "host:port", e.g. "127.0.1.1:15353"',
  )
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be 0..65535');

const zoneSchema = z
  .object({
    /** The region (city or geography) this zone is in. */
    region: name,
    /** Exactly one zone is the core zone: the single writer of global resources. */
    core: z.boolean().default(false),
    /** Zones that take this zone's shards when it fails, in order of preference. */
    backups: z.array(name).default([]),
    /**
     * Requests/s this zone serves before steering sheds the overflow to the next zone: a number,
     * or `{ rps: N }`. Also the zone's share when shards are placed by capacity.
     */
    capacity: z
      .union(
        [
          z.number().int().positive(),
          z
            .object({
              /** Requests/s at the zone's busier front door (edge or router), as an EWMA over a few seconds. */
              rps: z.number().int().positive(),
            })
            .strict(),
        ],
        { errorMap: () => ({ message: 'must be requests/s (a positive integer) or { rps: N }' }) },
      )
      .default(1000),
    /** Relative share of answers within a tier of equally near zones. */
    weight: z.number().positive().default(1),
    /** Carriers this zone is well connected to; clients on them prefer it within a tier. */
    isps: z.array(z.enum(ISP_IDS as [string, ...string[]])).default([]),
    /** Where each role of this zone listens. */
    listen: z
      .object({
        dns: listenAddr.optional(),
        httpdns: listenAddr.optional(),
        edge: listenAddr.optional(),
        router: listenAddr.optional(),
        app: listenAddr.optional(),
        control: listenAddr.optional(),
      })
      .strict(),
    /** Extra IPv6 addresses answered in AAAA records for this zone (optional). */
    addresses6: z.array(z.string().ip({ version: 'v6' })).default([]),
    /**
     * The zone's app is an external HTTP service (any language) instead of one multizone starts:
     * `{ upstream: http://host:port, health, keyFile }`. Not together with `listen.app`.
     */
    app: appSection.optional(),
  })
  .strict();

/** A zone or a tier of equally preferred zones. */
const tier = z.union([name, z.array(name).min(1)]);

const ruleSchema = z
  .object({
    name: z.string().optional(),
    countries: z.array(z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code like "CN"')).optional(),
    provinces: z.array(z.enum(PROVINCE_CODES as [string, ...string[]])).optional(),
    isps: z.array(z.enum(ISP_IDS as [string, ...string[]])).optional(),
    /** Zones in order of preference; a nested list is a tier of equals. */
    zones: z.array(tier).min(1),
  })
  .strict();

const policySchema = z
  .object({
    /** First matching rule orders the zones; zones a rule doesn't name follow in `default` order. */
    rules: z.array(ruleSchema).default([]),
    default: z.array(tier).min(1),
    /** How many endpoints an answer carries (the `first N` stage). */
    answers: z.number().int().min(1).max(16).default(2),
    /** Same client subnet, same order, while nothing changes (consistent hashing). */
    sticky: z.boolean().default(true),
    /** Shed a zone's overflow above its capacity to the next tier. */
    capacity: z.boolean().default(true),
    /** Prefer the zone real clients of the subnet reach fastest, when enough speed reports exist. */
    latency: z.boolean().default(false),
  })
  .strict();

const serviceSchema = z
  .object({
    /** Which role's listeners this name resolves to. */
    role: z.enum(['dns', 'httpdns', 'edge', 'router', 'app']).default('edge'),
    ttl: z.number().int().min(0).max(86400).default(60),
    policy: name.default('nearest'),
    /** A CNAME answer instead of addresses (the target need not be ours). */
    cname: z.string().optional(),
    txt: z.array(z.string().max(255)).default([]),
  })
  .strict();

const keySourceSchema = z.union([
  z.object({ cookie: z.string().min(1) }).strict(),
  z.object({ header: z.string().min(1) }).strict(),
  z.object({ query: z.string().min(1) }).strict(),
  z.object({ path: z.number().int().min(0), prefix: z.string().optional() }).strict(),
  z.object({ jwt: z.string().min(1), from: z.enum(['authorization', 'cookie']).default('authorization') }).strict(),
]);

const geometrySchema = z.object({ type: z.string(), coordinates: z.array(z.any()) }).passthrough();

const fenceSchema = z
  .object({
    zone: name,
    /** The shard users inside this fence belong to; defaults to one of the zone's shards. */
    shard: z.number().int().min(0).optional(),
    geometry: geometrySchema,
  })
  .strict();

const mappingSchema = z
  .object({
    /** Where the higher-level key comes from. */
    from: z.array(keySourceSchema).min(1),
    /**
     * A regex with a named group: `shard` (the key carries its shard number), `zone`
     * (it carries its zone, e.g. a session id), or `key` (a primary key to hash).
     */
    pattern: z.string().refine((p) => {
      try {
        new RegExp(p);
        return /\(\?<(shard|zone|key)>/.test(p);
      } catch {
        return false;
      }
    }, 'must be a valid regex with a named group (?<shard>…), (?<zone>…) or (?<key>…)'),
  })
  .strict();

const shardsSchema = z
  .object({
    count: z.number().int().min(1).max(65536).default(1024),
    hash: z.enum(['fnv1a', 'modulo']).default('fnv1a'),
    /** Where the primary sharding key (user id) comes from, tried in order. */
    key: z.array(keySourceSchema).default([{ header: 'x-user-id' }, { cookie: 'uid' }]),
    /** Where a geo point ('lat,lng') comes from, resolved through the fences. */
    geo: z.array(keySourceSchema).default([]),
    fences: z.record(name, fenceSchema).default({}),
    /** Higher-level keys (order id, session id) that map onto the primary key. */
    mappings: z.record(name, mappingSchema).default({}),
    /** Optional explicit initial ownership: zone → 'a-b' shard ranges. Default: by capacity. */
    assignment: z.record(name, z.array(z.string().regex(/^\d+(-\d+)?$/, 'must be "N" or "A-B"'))).optional(),
  })
  .strict()
  .default({});

const resourceSchema = z
  .object({
    /** global: one writer (core zone), read everywhere; sharded: owner zone writes, all hold a copy; local: lives in one zone. */
    class: z.enum(['global', 'sharded', 'local']),
    /** URL path prefixes that belong to this resource (the router matches the longest). */
    paths: z.array(z.string().startsWith('/')).default([]),
    /** Must be unique across all zones (one account per phone number). */
    unique: z.boolean().default(false),
    /** Losing recent writes in a zone failure is acceptable. */
    lossTolerant: z.boolean().default(false),
    /** Can be regenerated if lost (sessions: log in again). */
    regenerable: z.boolean().default(false),
    /** How fresh reads must be: strong (read the writer), seconds, minutes, eventual. */
    freshness: z.enum(['strong', 'seconds', 'minutes', 'eventual']).default('seconds'),
    /** fenced: wait for the lease to expire before moving (no double writers); available: move at once. */
    consistency: z.enum(['fenced', 'available']).default('fenced'),
    /** What replication does with concurrent writes from two zones. */
    conflict: z
      .string()
      .regex(/^(lock|owner-wins|merge:[a-z][a-z0-9-]*)$/, 'must be lock, owner-wins or merge:NAME')
      .default('lock'),
    /** Which mapping (higher-level key) identifies records, if not the primary key. */
    key: name.optional(),
  })
  .strict();

/** The whole topology file. */
export const topologySchema = z
  .object({
    name: z.string().default('multizone'),
    /** The DNS apex our services live under, e.g. shop.test. */
    apex: z.string().regex(/^([a-z0-9-]+\.)+[a-z0-9-]+$/i, 'must be a domain name like "shop.test"'),
    regions: z.record(name, z.object({ description: z.string().optional() }).strict().nullable()),
    zones: z.record(name, zoneSchema),
    services: z.record(z.string().regex(/^([a-z0-9-]+\.)+[a-z0-9-]+$/i, 'must be a domain name'), serviceSchema),
    policies: z.record(name, policySchema),
    shards: shardsSchema,
    resources: z.record(name, resourceSchema).default({}),
    control: z
      .object({ listen: listenAddr.default('127.0.0.1:7070') })
      .strict()
      .default({}),
    dns: dnsSection,
    httpdns: httpdnsSection,
    health: healthSection,
    steering: steeringSection,
    edge: edgeSection,
    router: routerSection,
    failover: failoverSection,
    store: storeSection,
    replication: replicationSection,
    session: sessionSection,
    trust: trustSection,
    anycast: anycastSection,
  })
  .strict();

export type TopologyInput = z.input<typeof topologySchema>;
export type TopologyConfig = z.output<typeof topologySchema>;
export type ZoneConfig = z.output<typeof zoneSchema>;
export type PolicyConfig = z.output<typeof policySchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type ResourceConfig = z.output<typeof resourceSchema>;
export type KeySource = z.output<typeof keySourceSchema>;
export type Tier = z.output<typeof tier>;
