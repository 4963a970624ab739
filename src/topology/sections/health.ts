import { z } from 'zod';

/** '2xx' (a class) or '204' (one status). */
const statusPattern = z.string().regex(/^[1-5](xx|\d\d)$/, 'must be a status like "200" or a class like "2xx"');

/** How one role's listeners are probed. */
const probeSchema = z
  .object({
    /**
     * http: GET `path`, the status must match `expectStatus`; tcp: a connect is enough;
     * dns: a UDP query for the apex SOA, any well-formed answer but SERVFAIL counts.
     */
    kind: z.enum(['http', 'tcp', 'dns']),
    /** http only: the path requested. */
    path: z.string().startsWith('/').default('/healthz'),
    /**
     * http only: statuses that count as alive. The default takes any answer that is not a
     * server error, because a router may refuse a request without a sharding key and is
     * still alive; narrow it to ['2xx'] when the role serves a real health path.
     */
    expectStatus: z.array(statusPattern).min(1).default(['2xx', '3xx', '4xx']),
  })
  .strict();

/** `health:` section of the topology file (owned by src/health). */
export const healthSection = z
  .object({
    /** Probe endpoints and feed the verdicts to steering. Off: everything counts as up. */
    enabled: z.boolean().default(true),
    /** Time between two probes of one endpoint by one prober zone. */
    intervalMs: z.number().int().min(10).max(600_000).default(2000),
    /** A probe without an answer after this long fails; at most intervalMs. */
    timeoutMs: z.number().int().min(1).max(600_000).default(1000),
    /** Consecutive successes before a prober calls a down endpoint up again. */
    rise: z.number().int().min(1).max(100).default(2),
    /** Consecutive failures before a prober calls an endpoint down. */
    fall: z.number().int().min(1).max(100).default(3),
    /**
     * Prober zones that must agree before an endpoint's verdict flips: 'majority' of the
     * probing zones, or a number. Ties keep the previous verdict.
     */
    quorum: z.union([z.literal('majority'), z.number().int().min(1)]).default('majority'),
    /** Per role: how its listeners are probed. */
    probes: z
      .object({
        edge: probeSchema.default({ kind: 'http' }),
        /** The router answers its own health path (`/_mz/health`, 200 when serving). */
        router: probeSchema.default({ kind: 'http', path: '/_mz/health', expectStatus: ['2xx'] }),
        app: probeSchema.default({ kind: 'http' }),
        httpdns: probeSchema.default({ kind: 'http' }),
        dns: probeSchema.default({ kind: 'dns' }),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.timeoutMs > h.intervalMs)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['timeoutMs'],
        message: `timeoutMs (${h.timeoutMs}) must not exceed intervalMs (${h.intervalMs})`,
      });
  })
  .default({});

export type HealthConfig = z.output<typeof healthSection>;
export type HealthProbeConfig = z.output<typeof probeSchema>;
