import { z } from 'zod';
import { zoneUrlSetting } from '../zone-url.ts';

/** `store:` section of the topology file (owned by src/store). */
export const storeSection = z
  .object({
    /** `sqlite` (embedded default: one file per zone) or `postgres` (one schema per zone). */
    adapter: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** Folder of the SQLite files (`<zone>.db`), relative to the working directory. */
    dataDir: z.string().min(1).default('.multizone/data'),
    /**
     * SQLite `synchronous` in WAL mode: `normal` (default) survives a process crash but can
     * lose the last commits on power loss; `full` fsyncs every commit (survives power loss).
     */
    synchronous: z.enum(['normal', 'full']).default('normal'),
    /**
     * Largest record value (its JSON, in bytes, plus the key) a write may carry; larger writes
     * are refused (ERR_STORE_TOO_LARGE, 413) instead of entering the change log, where one
     * change over the log's message size would stop that zone's shipping. With the JetStream
     * log it must fit the NATS server's max_payload (1 MiB by default) with room for the
     * batch around it; checked at startup.
     */
    maxValueBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(512 * 1024),
    /** PostgreSQL settings (adapter: postgres). synchronous_commit must stay on. */
    postgres: z
      .object({
        /**
         * Connection string, used per zone: `{zone}` is replaced by the zone's name and `{zone_}`
         * by the name with `_` for `-` (a database or server per zone:
         * `postgres://db-{zone}:5432/multizone`, or `?application_name=mz_{zone_}`).
         */
        url: zoneUrlSetting('postgres://postgres@127.0.0.1:5432/test'),
        /** Schema name prefix: zone sh-a lives in `<prefix>sh_a`. */
        schemaPrefix: z
          .string()
          .regex(/^[a-z_][a-z0-9_]*$/, 'must be lowercase letters, digits and underscores')
          .default('mz_'),
        /** Connections per zone store. */
        poolSize: z.number().int().min(1).max(100).default(8),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});
