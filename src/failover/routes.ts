import { request } from 'undici';
import { type ControlApi, controlErrors, readParams, sendJson } from '../control/index.ts';
import type { Clock } from '../core/clock.ts';
import type { Leadership, ShardMap, ZoneFaults } from '../shardmap/index.ts';
import type { Topology } from '../topology/index.ts';
import type { AuditLog } from './audit.ts';
import type { FailoverController } from './controller.ts';
import { failoverErrors } from './errors.ts';

/** The zone a control call names (`?zone=` or `{"zone":…}`), checked against the topology. */
export function zoneOf(topology: Topology, p: Record<string, string>): string {
  const zone = p.zone;
  if (!zone) throw controlErrors.ERR_CONTROL_BAD_REQUEST('need a zone: ?zone=NAME or {"zone":"NAME"}');
  if (!topology.hasZone(zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`unknown zone "${zone}"`);
  return zone;
}

/** The failover plane's control routes: the shard map, the audit log, planned failover and failback. */
export function registerFailoverRoutes(
  control: ControlApi,
  o: {
    topology: Topology;
    map: ShardMap;
    controller: FailoverController;
    audit: AuditLog;
    faults: ZoneFaults;
    clock: Clock;
    /** The control plane election; absent when this process is the only controller. */
    leader?: Leadership;
  },
): void {
  const { topology, map, controller, audit, faults, clock, leader } = o;
  const cfg = topology.config.failover;
  control.route('GET', '/api/shardmap', (_req, url) => {
    const snap = map.snapshot();
    // ?shards=0 leaves out the per-shard list (the dashboard); ?shards=1 (default) keeps it
    const full = (intParam(url, 'shards', 0, 1) ?? 1) === 1;
    return {
      ...snap,
      shards: full ? snap.shards : undefined,
      states: controller.states(),
      isolated: faults.list(),
      leader: leader ? { ...leader.current(), here: leader.isLeader() } : { here: true },
      config: { after: cfg.after, leaseMs: cfg.leaseMs, renewMs: cfg.renewMs, verdicts: cfg.verdicts },
    };
  });
  // ?limit=N: the last N entries (1..10000, default 1000); ?after=SEQ: only entries after SEQ
  // (a drill reads just its own, however long the log has grown)
  control.route('GET', '/api/audit', async (_req, url) => ({
    entries: await audit.list(
      intParam(url, 'limit', 1, 10_000) ?? 1000,
      intParam(url, 'after', 0, Number.MAX_SAFE_INTEGER) ?? 0,
    ),
  }));
  for (const which of ['failover', 'failback'] as const)
    control.route('POST', `/api/${which}`, async (req, url, res) => {
      const zone = zoneOf(topology, await readParams(req, url));
      const to = !controller.leads() ? leader?.current()?.control : undefined;
      if (to) return forward(`${to}/api/${which}`, zone, res);
      const started = clock.now();
      const r = which === 'failover' ? await controller.failover(zone) : await controller.failback(zone);
      return { zone, ...r, tookMs: Math.round(clock.now() - started) };
    });
}

/**
 * Planned moves are the leader's: a process that does not lead hands the call to the leader's
 * control API and answers with what it answered (any zone's control API takes them).
 */
async function forward(url: string, zone: string, res: import('node:http').ServerResponse): Promise<undefined> {
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, { method: 'POST', body: JSON.stringify({ zone }), headersTimeout: 600_000 });
  } catch (e) {
    throw failoverErrors.ERR_FAILOVER_NOT_LEADER(
      `cannot reach the control plane leader at ${url}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const body = await r.body.json().catch(() => ({}));
  sendJson(res, r.statusCode, body);
  return undefined;
}

/** An integer query parameter within [min, max], undefined when absent; 400 otherwise. */
function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw controlErrors.ERR_CONTROL_BAD_REQUEST(`${name} must be an integer from ${min} to ${max}, not "${raw}"`);
  return n;
}
