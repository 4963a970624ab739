import { createEdge, startDemoOrigin } from '../edge/index.ts';
import type { ListenerInfo, ZoneRole } from './roles.ts';

/** ctx.shared name of the zone → edge base URL map ('http://127.0.1.1:18080'), filled as edges start. */
export const EDGE_URLS_SHARED_KEY = 'edgeUrls';

/**
 * The zone's edge (CDN node). Static objects come from `edge.origin`, or from a built-in demo
 * origin started here; dynamic calls go to the zone's router listener if it has one, else its
 * app (their bound addresses come from ctx.shared: the failover service's `routers` map and
 * `app.<zone>`). Publishes `edge:<zone>` ({host, port}) and the `edgeUrls` map.
 */
export const edgeRole: ZoneRole = {
  role: 'edge',
  async start(ctx, zone) {
    const hp = zone.listen.edge;
    if (!hp) return null;
    const cfg = ctx.topology.config.edge;
    const listeners: ListenerInfo[] = [];
    let origin = cfg.origin;
    let demo: Awaited<ReturnType<typeof startDemoOrigin>> | undefined;
    if (!origin) {
      const [h, p] = [
        cfg.demoOrigin.slice(0, cfg.demoOrigin.lastIndexOf(':')),
        Number(cfg.demoOrigin.split(':').pop()),
      ];
      demo = await startDemoOrigin({ host: h, port: p, clock: ctx.clock });
      origin = demo.url;
      listeners.push({ zone: zone.name, role: 'origin', protocol: 'http', host: demo.host, port: demo.port });
    }
    // the zone's router (bound address from the failover service) or else its app
    const routers = (
      ctx.shared.get('failover') as { routers?: Map<string, { host: string; port: number }> } | undefined
    )?.routers;
    const app = ctx.shared.get(`app.${zone.name}`) as { host: string; port: number } | undefined;
    const candidates = [routers?.get(zone.name), zone.listen.router, app, zone.listen.app];
    const up = candidates.find((a) => a !== undefined && a.port !== 0);
    const dynamic = up ? `http://${up.host}:${up.port}` : undefined;
    let urls = ctx.shared.get(EDGE_URLS_SHARED_KEY) as Map<string, string> | undefined;
    if (!urls) {
      urls = new Map();
      ctx.shared.set(EDGE_URLS_SHARED_KEY, urls);
    }
    const edgeUrls = urls;
    let edge: ReturnType<typeof createEdge>;
    try {
      edge = createEdge({
        zone: zone.name,
        config: cfg,
        origin,
        dynamic,
        token: cfg.adminToken || process.env.MZ_EDGE_TOKEN || '',
        clock: ctx.clock,
        random: ctx.random,
        logger: ctx.logger,
        metrics: ctx.metrics,
        zoneEdges: () => edgeUrls,
      });
    } catch (e) {
      await demo?.close();
      throw e;
    }
    try {
      const a = await edge.listen(hp.host, hp.port);
      edgeUrls.set(zone.name, `${edge.protocol}://${a.host}:${a.port}`);
      ctx.shared.set(`edge:${zone.name}`, a);
      listeners.unshift({ zone: zone.name, role: 'edge', protocol: edge.protocol, host: a.host, port: a.port });
    } catch (e) {
      await edge.close();
      await demo?.close();
      throw e;
    }
    ctx.logger.debug({ zone: zone.name, origin, dynamic }, 'edge listening');
    return {
      listeners,
      async close() {
        await edge.close();
        await demo?.close();
      },
    };
  },
};
