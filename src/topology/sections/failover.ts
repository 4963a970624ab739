import { z } from 'zod';

/** `failover:` section of the topology file (owned by src/failover). */
export const failoverSection = z.object({}).strict().default({});
