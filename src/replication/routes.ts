import { z } from 'zod';
import { type ControlApi, controlErrors, readBody, readParams } from '../control/index.ts';
import type { Topology } from '../topology/index.ts';
import { replicationErrors } from './errors.ts';
import type { Log } from './log.ts';
import type { Replication } from './replication.ts';
import type { TableReplication } from './tables/table-replication.ts';

/** Body of POST /api/conflicts/resolve-all; unknown keys are errors so a typo cannot widen the call. */
const resolveAllBody = z
  .object({
    pickZone: z.string().min(1),
    resource: z.string().min(1).optional(),
    ids: z.array(z.string()).optional(),
    dryRun: z.boolean().optional(),
  })
  .strict();

/** The data plane's control routes: replication state, conflicts and their resolution, anti-entropy. */
export function registerReplicationRoutes(
  control: ControlApi,
  o: { topology: Topology; replication: Replication; log: Log; tables?: TableReplication },
): void {
  const { topology, replication, log, tables } = o;
  control.route('GET', '/api/replication', async () => ({
    log: log.kind,
    store: topology.config.store.adapter,
    zones: replication.zones(),
    links: await replication.links(),
    counters: replication.counters,
    conflicts: (await replication.conflicts()).length,
    ...(tables
      ? {
          tables: {
            links: tables.links(),
            slots: await tables.slots().catch(() => []),
            counters: tables.counts(),
            conflicts: (await tables.conflicts()).length,
          },
        }
      : {}),
  }));
  control.route('GET', '/api/conflicts', async () => ({
    conflicts: await replication.conflicts(),
    ...(tables ? { tables: await tables.conflicts() } : {}),
  }));
  control.route('POST', '/api/conflicts/resolve', async (req) => {
    let body: { id?: unknown; pick?: unknown; zone?: unknown };
    try {
      body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
    } catch {
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('body must be JSON: {"id":"resource/key","pick":"ZONE|VERSION"}');
    }
    // `null`, `[]` or `"x"` parse as JSON too, but are not the object this route takes
    if (typeof body !== 'object' || body === null || typeof body.id !== 'string' || typeof body.pick !== 'string')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('need {"id":"resource/key","pick":"ZONE|VERSION"}');
    if (tables && body.id.startsWith('table:')) {
      const t = await tables.resolve(body.id, body.pick);
      return { id: body.id, pick: body.pick, zone: t.zone, table: t.table, key: t.key };
    }
    const r = await replication.resolve(body.id, body.pick, typeof body.zone === 'string' ? body.zone : undefined);
    return { id: body.id, pick: body.pick, zone: r.zone, version: r.result.version, seq: r.result.seq };
  });
  // bulk resolution by policy: every open conflict of this process's zones by one zone's version
  control.route('POST', '/api/conflicts/resolve-all', async (req) => {
    const usage = '{"pickZone":"ZONE","resource"?:"NAME","ids"?:["resource/key"],"dryRun"?:true}';
    let raw: unknown;
    try {
      raw = JSON.parse((await readBody(req, 1 << 20)).toString('utf8') || '{}');
    } catch {
      throw controlErrors.ERR_CONTROL_BAD_REQUEST(`body must be JSON: ${usage}`);
    }
    const body = resolveAllBody.safeParse(raw);
    if (!body.success) {
      const issues = body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      throw controlErrors.ERR_CONTROL_BAD_REQUEST(`${issues} (need ${usage})`);
    }
    // table conflicts (ids `table:…`, or resource `table:NAME`) beside the store's
    const { resource, ids } = body.data;
    const tableOnly = resource?.startsWith('table:') === true;
    const storeIds = ids?.filter((id) => !id.startsWith('table:'));
    const r =
      tableOnly || (ids && storeIds?.length === 0)
        ? { ...(await replication.resolveAll({ ...body.data, resource: undefined, ids: [] })) }
        : await replication.resolveAll({ ...body.data, ...(ids ? { ids: storeIds } : {}) });
    if (!tables || (resource !== undefined && !tableOnly)) return r;
    const t = await tables.resolveAll({
      pickZone: body.data.pickZone,
      ...(tableOnly ? { table: resource.slice('table:'.length) } : {}),
      ...(ids ? { ids: ids.filter((id) => id.startsWith('table:')) } : {}),
      dryRun: body.data.dryRun === true,
    });
    return { ...r, resolved: [...r.resolved, ...t.resolved].sort(), skipped: [...r.skipped, ...t.skipped] };
  });
  // one pass now: every pair of zones, or with {"zone":"Z"} (or ?zone=Z) the pairs that include Z
  control.route('POST', '/api/replication/anti-entropy', async (req, url) => {
    const p = await readParams(req, url);
    const unknown = Object.keys(p).filter((k) => k !== 'zone');
    if (unknown.length > 0)
      throw controlErrors.ERR_CONTROL_BAD_REQUEST(`unknown parameter ${unknown.join(', ')} (takes only "zone")`);
    if (p.zone === undefined) return replication.antiEntropy();
    return { zone: knownZone(topology, p.zone), ...(await replication.antiEntropy(p.zone)) };
  });
  // a zone's outgoing lag, for the control plane leader in another process (planned moves wait
  // on it); ?to=a,b counts only the links to those zones (the zones a move hands shards to)
  control.route('GET', '/api/replication/lag', async (_req, url) => {
    const zone = url.searchParams.get('zone');
    if (!zone) throw controlErrors.ERR_CONTROL_BAD_REQUEST('need ?zone=NAME');
    const toParam = url.searchParams.get('to');
    const to = toParam === null ? undefined : toParam.split(',').map((z) => knownZone(topology, z));
    return { zone, ...(to ? { to } : {}), records: await replication.lagFor(knownZone(topology, zone), to) };
  });
}

/** A zone a call names, checked against the topology (ERR_REPL_UNKNOWN_ZONE, 400, when it has none such). */
function knownZone(topology: Topology, zone: string): string {
  if (!topology.hasZone(zone))
    throw replicationErrors.ERR_REPL_UNKNOWN_ZONE(
      `unknown zone "${zone}" (zones: ${topology.zones.map((z) => z.name).join(', ')})`,
    );
  return zone;
}
