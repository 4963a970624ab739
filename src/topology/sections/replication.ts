import { z } from 'zod';

/** `replication:` section of the topology file (owned by src/replication). */
export const replicationSection = z.object({}).strict().default({});
