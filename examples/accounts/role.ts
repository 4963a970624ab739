/**
 * `multizone up` wiring for the accounts app: a ZoneRole that replaces the built-in echo
 * app (`multizone up --app accounts`, or `startCluster({ app: accountsAppRole })`). It needs
 * the data part, which publishes each zone's store as `ctx.shared.get('data').stores`.
 */
import type { DataService } from '../../src/cli/part-data.ts';
import type { ClusterContext, Started, ZoneRole } from '../../src/cli/roles.ts';
import { openSessionStore } from '../../src/session/index.ts';
import type { Zone } from '../../src/topology/index.ts';
import { startAccountsApp } from './app.ts';

interface ShardOwners {
  owner(shard: number): { zone: string; epoch: number } | undefined;
}

/** The accounts app role; `scryptN` lowers the password hashing cost (tests). */
export function createAccountsAppRole(opts: { scryptN?: number } = {}): ZoneRole {
  return {
    role: 'app',
    name: 'accounts',
    start: (ctx, zone) => startRole(ctx, zone, opts.scryptN),
  };
}

/** The accounts app as `multizone up --app accounts` runs it (`multizone drill` drives it). */
export const accountsAppRole: ZoneRole = createAccountsAppRole();

async function startRole(ctx: ClusterContext, zone: Zone, scryptN: number | undefined): Promise<Started | null> {
  const hp = zone.listen.app;
  if (!hp) return null;
  const data = ctx.shared.get('data') as DataService | undefined;
  const store = data?.stores.get(zone.name);
  if (!store) throw new Error(`accounts app: no store for ${zone.name} (the data part must run first)`);
  const failover = ctx.shared.get('failover') as { views?: Map<string, ShardOwners> } | undefined;
  const map = failover?.views?.get(zone.name) ?? (ctx.shared.get('shardMap') as ShardOwners | undefined);
  // sessions: in this process, or the zone's Redis (session.adapter: redis)
  const sessions = await openSessionStore(ctx.topology, zone.name, ctx.clock);
  const app = await startAccountsApp({
    sessions,
    zone: zone.name,
    topology: ctx.topology,
    store,
    clock: ctx.clock,
    host: hp.host,
    port: hp.port,
    ...(scryptN ? { scryptN } : {}),
    onError: (e, route) => ctx.logger.warn({ err: e, zone: zone.name, route }, 'accounts: internal error'),
    epochOf: (shard) => map?.owner(shard)?.epoch ?? 1,
    peer: (z) => {
      // a zone in this process publishes its bound address; others listen where the topology says
      const a =
        (ctx.shared.get(`app.${z}`) as { host: string; port: number } | undefined) ??
        (ctx.topology.hasZone(z) ? ctx.topology.zone(z).listen.app : undefined);
      return a?.port ? `http://${a.host}:${a.port}` : undefined;
    },
  });
  ctx.shared.set(`app.${zone.name}`, app); // routers and drills find the app here, as with the echo app
  return {
    listeners: [{ zone: zone.name, role: 'app', protocol: 'http', host: app.host, port: app.port }],
    close: async () => {
      await app.close();
      await sessions.close();
    },
  };
}
