import { z } from 'zod';

/** `router:` section of the topology file (owned by src/router). */
export const routerSection = z.object({}).strict().default({});
