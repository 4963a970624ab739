import { z } from 'zod';

/** `health:` section of the topology file (owned by src/health). */
export const healthSection = z.object({}).strict().default({});
