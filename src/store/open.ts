import { join, resolve } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import { type Topology, zoneUrl } from '../topology/index.ts';
import { storeErrors } from './errors.ts';
import type { WriteFence } from './fence.ts';
import { PgStore } from './pg-store.ts';
import { resourcePolicies } from './policy.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Store } from './types.ts';

/**
 * Opens a zone's store as the topology's `store:` section says: a SQLite file per zone in
 * `dataDir` (embedded), or a schema per zone in PostgreSQL, at `store.postgres.url` with its
 * `{zone}`/`{zone_}` naming this zone. An unreachable database is reported with the setting's
 * file:line, since the URL was valid but nothing answers there.
 */
export async function openStore(o: {
  topology: Topology;
  zone: string;
  fence: WriteFence;
  clock: Clock;
  /** A pooled PostgreSQL connection broke while idle (the next query reconnects). */
  onError?(e: Error): void;
}): Promise<Store> {
  const { topology, zone, fence, clock } = o;
  const cfg = topology.config.store;
  const deps = { zone, topology, fence, policies: resourcePolicies(topology, fence), clock };
  if (cfg.adapter !== 'postgres')
    return new SqliteStore({ ...deps, file: join(resolve(cfg.dataDir), `${zone}.db`), synchronous: cfg.synchronous });
  try {
    return await PgStore.open({
      ...deps,
      connection: zoneUrl(cfg.postgres.url, zone),
      schema: `${cfg.postgres.schemaPrefix}${zone.replace(/-/g, '_')}`,
      poolSize: cfg.postgres.poolSize,
      ...(o.onError ? { onError: o.onError } : {}),
    });
  } catch (e) {
    if (!hasCode(e, storeErrors.ERR_STORE_UNAVAILABLE)) throw e;
    throw storeErrors.ERR_STORE_UNAVAILABLE(
      `${topology.where(['store', 'postgres', 'url'])}: store.postgres.url: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
