import { z } from 'zod';

/** `httpdns:` section of the topology file (owned by src/httpdns). */
export const httpdnsSection = z.object({}).strict().default({});
