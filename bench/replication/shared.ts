/** What replication.bench.ts and its zone processes (zone-process.ts) share. */

import { systemClock } from '../../src/core/clock.ts';
import {
  MemoryFence,
  PgStore,
  resourcePolicies,
  SqliteStore,
  type Store,
  type WriteRequest,
} from '../../src/store/index.ts';
import { parseTopology } from '../../src/topology/index.ts';
import { testTopologyYaml } from '../../test/support/net.ts';

export const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'];
export const WRITER = 'sh-a';
export const NATS = process.env.MZ_BENCH_NATS ?? '127.0.0.1:4222';
export const PG_URL = process.env.MZ_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export const topology = parseTopology(
  testTopologyYaml({ extra: 'shards:\n  count: 64\nresources:\n  profiles: { class: sharded }\n' }),
  'bench.yaml',
);
const owners = topology.initialOwners();
export const shardsOf = (zone: string) => owners.map((z, s) => (z === zone ? s : -1)).filter((s) => s >= 0);
// parsed, as a value that came in an HTTP body would be: 'x'.repeat() makes a cons string,
// which JSON.stringify walks again on every write
const value = JSON.parse(`{"name":"user","bio":"${'x'.repeat(120)}","n":0}`) as {
  name: string;
  bio: string;
  n: number;
};

/**
 * Monotonic milliseconds from CLOCK_MONOTONIC, which every process on the machine shares:
 * an ack taken in one process and an apply in another are on the same time line.
 */
export const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

let keyN = 0;
/** `n` new records in `zone`'s shards; keys are unique across processes (prefixed by zone). */
export function writes(n: number, zone = WRITER): WriteRequest[] {
  const shards = shardsOf(zone);
  const out: WriteRequest[] = [];
  for (let i = 0; i < n; i++) {
    const k = keyN++;
    out.push({
      resource: 'profiles',
      key: `${zone}-k${k}`,
      shard: shards[k % shards.length]!,
      epoch: 1,
      value: { ...value, n: k },
    });
  }
  return out;
}

/** Opens one zone's store: SQLite in `dir`, or PostgreSQL schema `schema` on `pool`. */
export async function openStore(
  kind: 'sqlite' | 'postgres',
  zone: string,
  where: { file: string } | { schema: string; pool: import('pg').Pool },
): Promise<Store> {
  const fence = new MemoryFence(owners);
  const deps = { zone, topology, fence, policies: resourcePolicies(topology, fence), clock: systemClock };
  if (kind === 'sqlite' && 'file' in where) return new SqliteStore({ ...deps, file: where.file });
  if (kind === 'postgres' && 'schema' in where)
    return PgStore.open({ ...deps, connection: where.pool, schema: where.schema });
  throw new Error(`no ${kind} store location given`);
}
