import { z } from 'zod';

/** `edge:` section of the topology file (owned by src/edge). */
export const edgeSection = z.object({}).strict().default({});
