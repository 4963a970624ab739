import { z } from 'zod';

const cidr = z
  .string()
  .regex(
    /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:.]+(\/\d{1,3})?)$/,
    'must be an address or CIDR, e.g. "10.0.0.0/8"',
  );

/** `httpdns:` section of the topology file (owned by src/httpdns). */
export const httpdnsSection = z
  .object({
    /**
     * Account id → secret for signed requests (`/sign_d`, signed `/report`). Empty: no
     * account, `/sign_d` answers 403 AccountUnknown and reports are taken unsigned.
     */
    accounts: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/), z.string().min(16)).default({}),
    /** Proxies whose X-Forwarded-For is believed (CIDRs). Default: none, the socket address is the client. */
    trustedProxies: z.array(cidr).default([]),
    /** Per-client token bucket; `perSecond: 0` turns it off. */
    rateLimit: z
      .object({
        /** Tokens added per second. */
        perSecond: z.number().min(0).default(50),
        /** Bucket size: the burst a client may send at once. */
        burst: z.number().int().min(1).default(100),
      })
      .strict()
      .default({}),
    /** HTTPS (and HTTP/2) when set: PEM file paths, read at startup (`multizone cert` makes a dev pair). */
    tls: z
      .object({
        /** Certificate chain (PEM). */
        cert: z.string().min(1),
        /** Private key (PEM). */
        key: z.string().min(1),
      })
      .strict()
      .optional(),
    /** Speed reports (`POST /report`) feeding steering's `latency` stage. */
    reports: z
      .object({
        /** Reports needed per zone (decayed count) before a subnet's or carrier's ranking is used. */
        minReports: z.number().min(1).default(5),
        /** Half-life of a report's weight, in seconds. */
        halfLifeSeconds: z.number().positive().default(600),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

export type HttpdnsConfig = z.output<typeof httpdnsSection>;
