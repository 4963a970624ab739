import { z } from 'zod';

/** `dns:` section of the topology file (owned by src/dns). */
export const dnsSection = z.object({}).strict().default({});
