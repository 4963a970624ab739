import { startDnsServer } from '../dns/index.ts';
import type { ZoneRole } from './roles.ts';

/** The zone's authoritative DNS server (UDP and TCP on the zone's dns listener). */
export const dnsRole: ZoneRole = {
  role: 'dns',
  async start(ctx, zone) {
    const hp = zone.listen.dns;
    if (!hp) return null;
    const srv = await startDnsServer({
      topology: ctx.topology,
      host: hp.host,
      port: hp.port,
      steering: ctx.steering,
      state: ctx.state,
      logger: ctx.logger,
      metrics: ctx.metrics,
      clock: ctx.clock,
      zone: zone.name,
    });
    return {
      listeners: [{ zone: zone.name, role: 'dns', protocol: 'udp+tcp', host: srv.host, port: srv.port }],
      close: srv.close,
    };
  },
};
