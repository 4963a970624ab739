import { z } from 'zod';

/** `steering:` section of the topology file (owned by src/steering): how zone load is measured and shed. */
export const steeringSection = z
  .object({
    /**
     * Capacity steering: each zone's process measures the zone's requests/s at its edge and router
     * and publishes it in the control Kv; every process sheds a zone's overflow share from it.
     */
    load: z
      .object({
        /** How often a process measures its zones' load, publishes it and steps every zone's shed share. */
        intervalMs: z.number().int().min(50).max(60_000).default(1000),
        /** Half-life of the request rate's moving average (EWMA), in seconds. */
        halfLifeSeconds: z.number().positive().max(600).default(2),
        /** A shedding zone keeps its shed share until its load falls below lowMark × capacity (hysteresis). */
        lowMark: z.number().min(0.5).max(1).default(0.9),
        /** The most a zone's shed share moves per second (0.1: from 0 to 50 % in 5 s). */
        slewPerSecond: z.number().positive().max(1).default(0.1),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export type SteeringConfig = z.output<typeof steeringSection>;
