import { z } from 'zod';

/** `trust:` section of the topology file (owned by src/trust): how zones prove a request came from a zone. */
export const trustSection = z
  .object({
    /**
     * File holding the cluster's shared secret (64+ hex characters, mode 0600), read at startup.
     * Required when a process runs only some zones (`multizone zone Z`, `up --zones`), so every
     * zone process signs with the same secret; when unset, `multizone up` keeps one in
     * `<store.dataDir>/cluster-secret`. Changing it needs a restart of every zone.
     */
    secretFile: z.string().min(1).optional(),
  })
  .strict()
  .default({});

export type TrustConfig = z.output<typeof trustSection>;
