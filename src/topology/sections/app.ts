import { z } from 'zod';

/** Text whose only `{…}` are the zone placeholders. */
const ZONE_TEMPLATE = /^(?:[^{}]|\{zone_?\})*$/;
const TEMPLATE_RULE = 'may contain no placeholder but {zone} (the zone name) and {zone_} (the zone name with _ for -)';

/** The placeholders of `command` and `env`. */
export const APP_PLACEHOLDERS = [
  'zone',
  'zone_',
  'host',
  'port',
  'keyFile',
  'router',
  'edge',
  'edgeToken',
  'node',
] as const;
/** `{name}` of an unknown name (other braces, as in a JSON value, are text). */
const unknownPlaceholder = (v: string) =>
  [...v.matchAll(/\{([A-Za-z_]\w*)\}/g)].some((m) => !(APP_PLACEHOLDERS as readonly string[]).includes(m[1]!));
const appTemplate = () =>
  z
    .string()
    .min(1)
    .refine((v) => !unknownPlaceholder(v), APP_TEMPLATE_RULE);
const APP_TEMPLATE_RULE = `may contain no {name} placeholder but ${APP_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`;

/** `http://host:port`, no path, query or credentials; `{zone}`/`{zone_}` may name the zone. */
const upstreamUrl = z
  .string()
  .min(1)
  .regex(ZONE_TEMPLATE, TEMPLATE_RULE)
  .refine((s) => {
    try {
      const u = new URL(s.replaceAll('{zone_}', 'z').replaceAll('{zone}', 'z'));
      return (
        u.protocol === 'http:' && u.port !== '' && u.pathname === '/' && u.search === '' && u.hash === '' && !u.username
      );
    } catch {
      return false;
    }
  }, 'must be "http://host:port" (an explicit port; no path, query or credentials), e.g. "http://127.0.0.1:19001"');

/**
 * `zones.<z>.app:` (owned by src/router and src/runtime): the zone's app is an external HTTP
 * service at an address. `multizone up` then starts no app of its own for the zone; the router
 * sends it the owner zone's requests with the routing headers, signed with `keyFile`'s key,
 * and the zone's health follows the app's health path. See docs/app-contract.md.
 */
export const appSection = z
  .object({
    /**
     * Where the app listens: `http://host:port`. `{zone}` is replaced by the zone's name and
     * `{zone_}` by the name with `_` for `-` (one topology file for every zone's process).
     */
    upstream: upstreamUrl,
    /**
     * The app's health path: the zone probes it every `health.intervalMs`; after `health.fall`
     * failures (no answer, or not 2xx) the zone's `/_mz/health` answers 503 and the zone gives up
     * its lease, so its shards move to its backups; after `health.rise` successes it is up again.
     */
    health: z.string().startsWith('/').default('/healthz'),
    /**
     * File holding the key the router signs the app's requests with (64+ hex characters, the
     * app reads the same file); `{zone}`/`{zone_}` name the zone. Required: an app must be
     * able to tell its router's requests from anybody else's.
     */
    keyFile: z.string().min(1).regex(ZONE_TEMPLATE, TEMPLATE_RULE),
    /**
     * What the app is (e.g. `delivery`): shown in the console, and `multizone drill` picks the
     * app's own workload by it when it has one.
     */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, 'must be a lower-case name like "delivery"')
      .optional(),
    /**
     * The command that runs the app (argv, no shell), when multizone should start it: each
     * zone's process starts its zone's app before anything of the zone, waits until it
     * answers `health`, restarts it when it exits, and stops it last. Placeholders as in `env`,
     * plus `{node}` (the Node.js running multizone). Unset: the app is started by others.
     */
    command: z.array(appTemplate()).min(1).optional(),
    /** The command's working folder, relative to the topology file's folder (default: that folder). */
    cwd: z.string().min(1).optional(),
    /**
     * Environment added to the command's (over multizone's own): `{zone}`, `{zone_}`, `{host}`
     * and `{port}` (the upstream's), `{keyFile}` (its absolute path), `{router}` and `{edge}`
     * (the zone's listeners as http URLs), `{edgeToken}` (the edges' admin token).
     */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), appTemplate()).default({}),
    /** How long the command may take to answer its health path at start (ms); longer stops startup. */
    startTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  })
  .strict();

export type AppConfig = z.output<typeof appSection>;
