/**
 * `multizone up` wiring for the accounts app: a ZoneRole that replaces the built-in echo
 * app. In src/cli/roles.ts swap `appRole` for `accountsAppRole` in ZONE_ROLES (it needs the
 * data part, which publishes each zone's store as `ctx.shared.get('data').stores`).
 */
import type { DataService } from '../../src/cli/part-data.ts';
import type { ClusterContext, ZoneRole } from '../../src/cli/roles.ts';
import type { Zone } from '../../src/topology/index.ts';
import { startAccountsApp } from './app.ts';

interface ShardOwners {
  owner(shard: number): { zone: string; epoch: number } | undefined;
}

export const accountsAppRole: ZoneRole = {
  role: 'app',
  async start(ctx: ClusterContext, zone: Zone) {
    const hp = zone.listen.app;
    if (!hp) return null;
    const data = ctx.shared.get('data') as DataService | undefined;
    const store = data?.stores.get(zone.name);
    if (!store) throw new Error(`accounts app: no store for ${zone.name} (the data part must run first)`);
    const failover = ctx.shared.get('failover') as { views?: Map<string, ShardOwners> } | undefined;
    const map = failover?.views?.get(zone.name) ?? (ctx.shared.get('shardMap') as ShardOwners | undefined);
    const app = await startAccountsApp({
      zone: zone.name,
      topology: ctx.topology,
      store,
      clock: ctx.clock,
      host: hp.host,
      port: hp.port,
      epochOf: (shard) => map?.owner(shard)?.epoch ?? 1,
      peer: (z) => {
        // a zone in this process publishes its bound address; others listen where the topology says
        const a =
          (ctx.shared.get(`app.${z}`) as { host: string; port: number } | undefined) ??
          (ctx.topology.hasZone(z) ? ctx.topology.zone(z).listen.app : undefined);
        return a && a.port ? `http://${a.host}:${a.port}` : undefined;
      },
    });
    ctx.shared.set(`app.${zone.name}`, app); // routers and drills find the app here, as with the echo app
    return {
      listeners: [{ zone: zone.name, role: 'app', protocol: 'http', host: app.host, port: app.port }],
      close: app.close,
    };
  },
};
