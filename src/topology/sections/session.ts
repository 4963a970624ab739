import { z } from 'zod';
import { zoneUrlSetting } from '../zone-url.ts';

/** `session:` section of the topology file (owned by src/session): where zones keep sessions. */
export const sessionSection = z
  .object({
    /** `memory` (embedded default: in the zone's process) or `redis` (one Redis per zone, or a shared one). */
    adapter: z.enum(['memory', 'redis']).default('memory'),
    /** How long a session lives without use; each authenticated request slides it. */
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(90 * 86_400)
      .default(86_400),
    /** Redis settings (adapter: redis). */
    redis: z
      .object({
        /**
         * redis://[user:pass@]host:port[/db], used per zone: `{zone}` is replaced by the zone's
         * name and `{zone_}` by the name with `_` for `-` (a Redis per zone: `redis://redis-{zone}:6379`).
         */
        url: zoneUrlSetting('redis://127.0.0.1:6379'),
        /** Key prefix; ids already name their zone, so zones may share a server. */
        prefix: z.string().min(1).max(64).default('mz:session:'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});
