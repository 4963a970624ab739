import { LeaseKeeper, PartitionableKv, ShardMap } from '../failover/index.ts';
import { createRouter } from '../router/index.ts';
import type { HostPort } from '../topology/index.ts';
import type { FailoverService } from './part-failover.ts';
import type { ZoneRole } from './roles.ts';

/**
 * A zone's router: its own view of the shard map (through a partitionable Kv handle, so a
 * drill can cut it off), its lease keeper, and the HTTP router. Needs the failover part.
 */
export const routerRole: ZoneRole = {
  role: 'router',
  async start(ctx, zone) {
    const hp = zone.listen.router;
    if (!hp) return null;
    const svc = ctx.shared.get('failover') as FailoverService | undefined;
    if (!svc) throw new Error('router role needs the failover cluster part (CLUSTER_PARTS)');
    const { topology, clock } = ctx;
    const cfg = topology.config.failover;
    const zkv = new PartitionableKv(svc.kv, zone.name);
    const view = await new ShardMap(zkv, topology.config.shards.count, clock).start();
    const keeper = new LeaseKeeper({
      kv: zkv,
      zone: zone.name,
      clock,
      leaseMs: cfg.leaseMs,
      renewMs: cfg.renewMs,
      seen: () => view.revision,
    });
    view.attachLease(keeper);
    svc.views.set(zone.name, view);
    // acknowledge a drain of our shards at once (the planned failover waits for it)
    const unwatch = view.watch((c) => {
      if (c.owner.zone === zone.name && c.owner.draining) void keeper.renewFresh();
    });
    const unfault = svc.faults.onChange((z) => {
      if (z === zone.name) zkv.setIsolated(svc.faults.isIsolated(z));
    });
    await keeper.start();

    const resolve = (name: string): HostPort | undefined => {
      if (name === 'app') {
        const app = ctx.shared.get(`app.${zone.name}`) as HostPort | undefined;
        return app ? { host: app.host, port: app.port } : zone.listen.app;
      }
      return svc.routers.get(name) ?? topology.zone(name).listen.router;
    };
    const router = createRouter({
      topology,
      zone: zone.name,
      map: view,
      resolve,
      clock,
      metrics: ctx.metrics,
      cut: (a, b) => svc.faults.cut(a, b),
    });
    const addr = await router.listen(hp.host, hp.port);
    svc.routers.set(zone.name, addr);
    svc.zones.set(zone.name, {
      async kill() {
        keeper.stop();
        if (router.server.listening)
          await new Promise<void>((r) => {
            router.server.close(() => r());
            router.server.closeAllConnections();
          });
      },
      async restore() {
        if (!router.server.listening) await router.listen(addr.host, addr.port);
        await keeper.start();
      },
    });
    return {
      listeners: [{ zone: zone.name, role: 'router', protocol: 'http', host: addr.host, port: addr.port }],
      async close() {
        unwatch();
        unfault();
        keeper.stop();
        view.stop();
        svc.views.delete(zone.name);
        await router.close();
      },
    };
  },
};
