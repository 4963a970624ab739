import { configInvalid } from '../core/config.ts';
import { coreErrors } from '../core/errors.ts';
import type { Topology } from './model.ts';
import { hasZonePlaceholder, zoneUrl } from './zone-url.ts';

/**
 * A URL setting a process opens once for all the zones it runs (the replication log, the
 * control Kv), resolved for those zones: with exactly one zone, `{zone}`/`{zone_}` name that
 * zone; with several, a placeholder cannot name one of them, so it is ERR_CONFIG_INVALID with
 * the setting's file:line:col. `zones` defaults to every zone of the topology (embedded mode).
 */
export function processUrl(
  topology: Topology,
  path: readonly string[],
  what: string,
  zones: readonly string[] = topology.zones.map((z) => z.name),
): string {
  let value: unknown = topology.config;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  if (typeof value !== 'string')
    throw coreErrors.ERR_CORE_INVALID_ARG(`processUrl: ${path.join('.')} is not a string setting`);
  if (!hasZonePlaceholder(value)) return value;
  if (zones.length === 1) return zoneUrl(value, zones[0]!);
  throw configInvalid([
    topology.problem(
      path,
      `${JSON.stringify(value)} names a zone, but ${what} is shared by all zones of a process (${zones.join(', ')}); run one zone per process (multizone zone ZONE) or remove {zone}/{zone_} from it`,
    ),
  ]);
}
