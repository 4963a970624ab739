import { Agent, request } from 'undici';
import type { ZoneFaults } from '../shardmap/index.ts';
import type { HostPort } from '../topology/index.ts';

/**
 * The controller's direct check of a zone: its router's `/_mz/health`. No verdict (undefined)
 * while the router has no bound address yet; an isolated zone fails as a partition would.
 */
export function routerProbe(o: {
  /** The zone's router's bound address (ports may be 0 in the topology). */
  routerOf(zone: string): HostPort | undefined;
  faults: ZoneFaults;
  timeoutMs: number;
}): (zone: string) => Promise<boolean | undefined> {
  // connecting is bounded by the timeout too: a partitioned zone drops the SYN, and undici's
  // default connect timeout (10 s) would hold the verdict that long (seen in the lab)
  const dispatcher = new Agent({ connect: { timeout: o.timeoutMs } });
  return async (zone) => {
    if (o.faults.isIsolated(zone)) return false;
    const hp = o.routerOf(zone);
    if (!hp) return undefined;
    try {
      const r = await request(`http://${hp.host}:${hp.port}/_mz/health`, {
        dispatcher,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
      });
      await r.body.dump();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  };
}
