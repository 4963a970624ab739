import { z } from 'zod';
import { zoneUrlSetting } from '../zone-url.ts';
import { replicationTablesSection } from './replication-tables.ts';

/** `replication:` section of the topology file (owned by src/replication). */
export const replicationSection = z
  .object({
    /** The log between zones: `memory` (in-process, embedded default) or `jetstream` (NATS). */
    log: z.enum(['memory', 'jetstream']).default('memory'),
    /** Most changes per log batch (one JetStream message carries one batch). */
    batchMax: z.number().int().min(1).max(10_000).default(500),
    /** How often a zone's shipper checks its change log for unannounced writes (ms). */
    pollMs: z.number().int().min(1).max(60_000).default(50),
    /** Anti-entropy period (ms): compare per-shard digests between zones and repair; 0 = off. */
    antiEntropyMs: z.number().int().min(0).max(86_400_000).default(30_000),
    /** Simulated WAN of the in-process log, applied on the receiving side. */
    wan: z
      .object({
        /** One-way delay (ms). */
        delayMs: z.number().min(0).max(60_000).default(0),
        /** Extra random delay 0..jitterMs (ms); order per zone is kept. */
        jitterMs: z.number().min(0).max(60_000).default(0),
        /** Probability a batch never reaches a zone (anti-entropy repairs it). */
        loss: z.number().min(0).max(1).default(0),
      })
      .strict()
      .default({}),
    /** NATS JetStream settings (log: jetstream). */
    nats: z
      .object({
        /**
         * Server URL(s), comma-separated. One log per process: `{zone}` (and `{zone_}`, with `_`
         * for `-`) is replaced by the zone's name when the process runs one zone
         * (`multizone zone sh-a`: a NATS server or leaf node per zone, `nats://nats-{zone}:4222`);
         * a process running several zones refuses to start with it.
         */
        url: zoneUrlSetting('nats://127.0.0.1:4222'),
        /** Stream prefix: zone sh-a's changes go to stream `<prefix>_sh-a`. */
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, _ and -')
          .default('MZ'),
        /** Copies of each zone's stream in the NATS cluster (JetStream replicas; 3 survives one server's loss). */
        replicas: z.number().int().min(1).max(5).default(1),
      })
      .strict()
      .default({}),
    /** The app's own PostgreSQL tables, read by logical decoding in each zone and applied in the others (docs/tables.md). */
    tables: replicationTablesSection,
  })
  .strict()
  .default({});
