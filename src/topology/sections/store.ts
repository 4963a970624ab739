import { z } from 'zod';

/** `store:` section of the topology file (owned by src/store). */
export const storeSection = z.object({}).strict().default({});
