import { z } from 'zod';

/*
 * Zone placeholders in URL settings (`store.postgres.url`, `session.redis.url`,
 * `replication.nats.url`, `failover.kv.url`), so one topology file serves every zone's process:
 * `{zone}` is the zone's name (`sh-a`), `{zone_}` the same with `_` for `-` (`sh_a`, for names
 * that allow no dash, such as a PostgreSQL schema or database).
 */

/** Text with no `{` or `}` but the two placeholders. */
const ONLY_KNOWN = /^(?:[^{}]|\{zone_?\})*$/;

/** The rule the URL settings are validated with (also the rule column of docs/config.md). */
const RULE = 'may contain no placeholder but {zone} (the zone name) and {zone_} (the zone name with _ for -)';

/** A URL setting that may name the zone: a non-empty string whose only `{…}` are the placeholders. */
export function zoneUrlSetting(defaultUrl: string) {
  return z.string().min(1).regex(ONLY_KNOWN, RULE).default(defaultUrl);
}

/** True when the value names a zone (`{zone}` or `{zone_}`). */
export function hasZonePlaceholder(value: string): boolean {
  return /\{zone_?\}/.test(value);
}

/**
 * The URL for one zone: `{zone}` → the zone's name, `{zone_}` → the name with `_` for `-`.
 * `zoneUrl('postgres://db-{zone}/mz?application_name=mz_{zone_}', 'sh-a')` →
 * `postgres://db-sh-a/mz?application_name=mz_sh_a`.
 */
export function zoneUrl(template: string, zone: string): string {
  return template.replaceAll('{zone_}', zone.replace(/-/g, '_')).replaceAll('{zone}', zone);
}
