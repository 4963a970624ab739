import { z } from 'zod';
import { zoneUrlSetting } from '../zone-url.ts';

/** `failover:` section of the topology file (the controller's settings, and the shard map's Kv and leases). */
export const failoverSection = z
  .object({
    /**
     * A zone seen down this long (ms) has its shards moved to its backup zones — and only once
     * its lease has lapsed too (a zone that still renews is never failed over), so this mostly
     * rides out a blip of the prober's own; kept under the lease so a partition's RTO is the lease's.
     */
    after: z.number().int().min(0).max(600_000).default(500),
    /**
     * How long a zone's lease lasts (ms): a zone writes a shard only while its lease is unexpired.
     * A dead zone's fenced shards move once it lapses, so the RTO is about the lease plus `skewMs`
     * (2 s measured with the default); four renewals a lease ride out a slow Kv round trip.
     */
    leaseMs: z.number().int().min(200).max(600_000).default(2000),
    /** How often each zone renews its lease (ms); must leave room for missed renewals. */
    renewMs: z.number().int().min(50).max(300_000).default(500),
    /** Extra wait (ms) after the old lease's expiry before a fenced shard takes writes elsewhere (clock skew). */
    skewMs: z.number().int().min(0).max(60_000).default(250),
    /**
     * Whose verdict declares a zone down: `health` (the health plane's quorum; slower, fewer
     * false alarms), `direct` (the controller's own check of each zone's router), or `either`
     * (the first to say down). Without a health plane, `direct` is used.
     */
    verdicts: z.enum(['health', 'direct', 'either']).default('either'),
    /**
     * The most zones that may be failed over at the same time; more zones looking down at once
     * more likely means the observer is sick (overload, its own partition) than the zones.
     * Default: a minority of the zones, floor((zones − 1) / 2).
     */
    maxFailedZones: z.number().int().min(1).max(64).optional(),
    /** Direct health check of each zone's router, used until the health plane publishes verdicts. */
    check: z
      .object({
        /** Check interval (ms). */
        intervalMs: z.number().int().min(20).max(60_000).default(200),
        /**
         * Per-check timeout (ms). A killed zone fails at once (refused); a partitioned one only
         * by this timeout (its SYNs are dropped), so it is kept short enough that timeout +
         * `after` stays under the lease. A slow answer from a live zone costs nothing: a zone
         * that renews its lease is never failed over.
         */
        timeoutMs: z.number().int().min(20).max(60_000).default(500),
      })
      .strict()
      .default({}),
    /** A planned failover waits at most this long (ms) for replication lag zero and the zone's drain ack. */
    plannedTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** Where the shard map, leases and audit log live. */
    kv: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('memory') }).strict(),
        z
          .object({
            type: z.literal('nats'),
            /**
             * NATS server URL(s), comma-separated. One Kv per process: `{zone}` (and `{zone_}`,
             * with `_` for `-`) is replaced by the zone's name when the process runs one zone
             * (`multizone zone sh-a`); a process running several zones refuses to start with it.
             */
            url: zoneUrlSetting('nats://127.0.0.1:4222'),
            /** JetStream KV bucket name. */
            bucket: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .default('multizone'),
            /** Copies of the bucket in the NATS cluster (JetStream replicas; 3 survives one server's loss). */
            replicas: z.number().int().min(1).max(5).default(1),
          })
          .strict(),
        z
          .object({
            type: z.literal('etcd'),
            /**
             * etcd member client URL(s) (`http://host:2379`), comma-separated; `{zone}` as for
             * nats. Run the members with `--pre-vote` so a member back from a partition does not
             * unseat the leader (the Kv would take no writes, and every lease lapse, meanwhile).
             */
            url: zoneUrlSetting('http://127.0.0.1:2379'),
            /** Every key lives under `<bucket>/`, so several clusters can share one etcd. */
            bucket: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .default('multizone'),
          })
          .strict(),
      ])
      .default({ type: 'memory' }),
  })
  .strict()
  .refine((f) => f.renewMs * 2 <= f.leaseMs, {
    message: 'renewMs must be at most half of leaseMs, so one missed renewal does not drop the lease',
    path: ['renewMs'],
  })
  .default({});

export type FailoverConfig = z.output<typeof failoverSection>;
