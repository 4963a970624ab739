import type { AuditEntry } from '../failover/index.ts';
import { failoverErrors } from '../failover/index.ts';
import { shardForKey } from '../shardmap/index.ts';
import { AccountsWorkload } from './accounts-workload.ts';
import { type Control, controlJson, type ShardMapJson } from './control-http.ts';
import { DeliveryWorkload } from './delivery-workload.ts';
import { drillErrors } from './errors.ts';
import { ExternalWorkload } from './external-workload.ts';
import type { DrillOptions, DrillReport } from './types.ts';

/** A drill user: the key it writes under, that key's shard, and the zone owning it (where steering sends it). */
export interface DrillUser {
  id: string;
  shard: number;
  home: string;
}

/** What the drill found in the cluster before the fault, and whom it will send traffic for. */
export interface DrillPlan {
  /** The control API the drill watches the cluster through: one the fault does not take down. */
  control: Control;
  /** The faulted zone's own process's control API (where POST /api/drill/kill goes). */
  zoneControl: Control;
  /** Every process's control API (conflicts are counted in each); just `control` when only one is known. */
  controls: Control[];
  /** Zone → its router's base URL (traffic enters here) and its app's (the accounts read-back reads here). */
  routers: Map<string, string>;
  apps: Map<string, string>;
  zones: string[];
  workload: DrillReport['workload'];
  /** The paths the traffic uses, as the report shows them. */
  path: string;
  /** The shard map at the start: owners and epochs before any move, and the lease. */
  shardMap: ShardMapJson;
  /** The last audit entry before the drill; moves after it are the drill's. */
  lastSeq: number;
  users: DrillUser[];
  /** Users whose home is the faulted zone. */
  affectedUsers: number;
  /** Set when the cluster runs the accounts app (its users are registered and logged in by then). */
  accounts?: AccountsWorkload;
  /** The consistency the traffic is held to: the option, else the workload's. */
  consistency: 'fenced' | 'available';
  /** Set on the delivery service (its dishes, menu and users are set up by then). */
  delivery?: DeliveryWorkload;
  /** Set when the zones' apps are external services (`zones.<z>.app`): writes and reads under `path`. */
  external?: ExternalWorkload;
}

/** Reads the cluster through the control API and picks the users; on the accounts app, sets them up too. */
export async function planDrill(o: DrillOptions, given: Control): Promise<DrillPlan> {
  const eps = await readEndpoints(given, o);
  const controls = eps.controls.length ? eps.controls : [{ url: given.base, zones: [] as string[] }];
  const zoneControl = controls.find((c) => c.zones.includes(o.zone))?.url ?? given.base;
  const control = { ...given, base: observerFor(o, given.base, controls) };
  const topo = await controlJson<{ app?: string; appName?: string; apex: string; zones: { name: string }[] }>(
    control,
    '/api/topology',
  );
  if (!topo.zones.some((z) => z.name === o.zone))
    throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`drill: unknown zone "${o.zone}"`);
  for (const z of topo.zones)
    if (!eps.routers.has(z.name))
      throw drillErrors.ERR_FAILOVER_DRILL(
        `drill: no router for zone "${z.name}" in ${control.base}/api/endpoints: is its process running?`,
      );
  const workload: DrillReport['workload'] =
    o.workload ??
    (topo.appName === 'delivery'
      ? 'delivery'
      : topo.app === 'accounts'
        ? 'accounts'
        : topo.app === 'external'
          ? 'external'
          : 'echo');
  // the delivery service's orders are `available` (a backup takes them at once)
  const consistency = o.consistency ?? (workload === 'delivery' ? 'available' : 'fenced');
  const shardMap = await controlJson<ShardMapJson>(control, '/api/shardmap');
  refuseEmptyZone(o.zone, shardMap);
  const auditBefore = await controlJson<{ entries: AuditEntry[] }>(control, '/api/audit?limit=1');
  const lastSeq = auditBefore.entries.at(-1)?.seq ?? 0;
  const plan: DrillPlan = {
    control,
    zoneControl: { ...given, base: zoneControl },
    controls: controls.map((c) => ({ ...given, base: c.url })),
    routers: eps.routers,
    apps: eps.apps,
    zones: [...eps.routers.keys()],
    workload,
    consistency,
    path: o.path ?? trafficPath(workload, consistency),
    shardMap,
    lastSeq,
    users: [],
    affectedUsers: 0,
  };
  if (workload === 'accounts') {
    plan.accounts = await setUpAccounts(o, plan);
    plan.users = plan.accounts.users;
  } else if (workload === 'delivery') {
    plan.delivery = await setUpDelivery(o, plan, { edges: eps.edges, host: topo.apex });
    plan.users = plan.delivery.users;
  } else plan.users = echoUsers(o, shardMap);
  if (workload === 'external') plan.external = new ExternalWorkload(plan.path, o.clock);
  plan.affectedUsers = plan.users.filter((u) => u.home === o.zone).length;
  return plan;
}

/** A zone that owns no shard (and not the global writer) has nothing to fail over: the drill would test nothing. */
function refuseEmptyZone(zone: string, map: ShardMapJson): void {
  if (map.shards.some((s) => s.zone === zone) || map.global?.zone === zone) return;
  throw drillErrors.ERR_FAILOVER_DRILL(
    `drill: zone "${zone}" owns no shards, so a fault there tests nothing; give it its shards back first (multizone failback --zone ${zone})`,
  );
}

/**
 * The control API to watch the drill through. An external fault may take the zone's whole
 * process down, so then the drill watches from another process when the cluster has one.
 */
function observerFor(o: DrillOptions, given: string, controls: { url: string; zones: string[] }[]): string {
  const here = controls.find((c) => c.url === given);
  if (!o.external || !here?.zones.includes(o.zone)) return given;
  return controls.find((c) => !c.zones.includes(o.zone))?.url ?? given;
}

/** Control listeners as GET /api/endpoints lists them: every process's, with the zones it runs. */
interface EndpointJson {
  zone: string | null;
  role: string;
  host: string;
  port: number;
  zones?: string[];
}

/**
 * Each zone's router and app, and every process's control API, from GET /api/endpoints (a
 * per-zone deployment lists every process's listeners there), unless the options give them.
 */
async function readEndpoints(
  control: Control,
  o: DrillOptions,
): Promise<{
  routers: Map<string, string>;
  apps: Map<string, string>;
  edges: Map<string, string>;
  controls: { url: string; zones: string[] }[];
}> {
  const eps = await controlJson<{ endpoints: EndpointJson[] }>(control, '/api/endpoints');
  const url = (e: EndpointJson) => `http://${e.host === '0.0.0.0' ? '127.0.0.1' : e.host}:${e.port}`;
  const controls = eps.endpoints
    .filter((e) => e.role === 'control')
    .map((e) => ({ url: url(e), zones: e.zones ?? [] }));
  const edges = new Map<string, string>();
  for (const e of eps.endpoints) if (e.role === 'edge' && e.zone && !edges.has(e.zone)) edges.set(e.zone, url(e));
  if (o.endpoints) return { ...o.endpoints, edges, controls };
  const routers = new Map<string, string>();
  const apps = new Map<string, string>();
  for (const e of eps.endpoints) {
    if (e.role === 'router' && e.zone) routers.set(e.zone, url(e));
    if (e.role === 'app' && e.zone) apps.set(e.zone, url(e));
  }
  return { routers, apps, edges, controls };
}

/** Fenced traffic writes profiles, available traffic orders; the accounts app has its own paths. */
function trafficPath(workload: DrillReport['workload'], consistency: DrillPlan['consistency']): string {
  if (workload === 'accounts') return '/api/profiles, /api/comments';
  if (workload === 'delivery') return '/api/orders, /api/menus';
  return consistency === 'available' ? '/api/orders' : '/api/profiles';
}

/** Echo users: seeded ids, so a rerun with the same seed sends the same users to the same shards. */
function echoUsers(o: DrillOptions, shardMap: ShardMapJson): DrillUser[] {
  return Array.from({ length: o.users ?? 2000 }, (_, i) => {
    const id = `drill-${o.random.seed}-${i}`;
    const shard = shardForKey(id, shardMap.count);
    return { id, shard, home: shardMap.shards[shard]!.zone };
  });
}

/** Accounts users register, log in and write their profile before the traffic starts (reported as 'setup'). */
async function setUpAccounts(o: DrillOptions, plan: DrillPlan): Promise<AccountsWorkload> {
  const accounts = new AccountsWorkload({
    dispatcher: plan.control.dispatcher,
    clock: o.clock,
    random: o.random,
    routers: plan.routers,
    shardCount: plan.shardMap.count,
    ownerOf: (shard) => plan.shardMap.shards[shard]!.zone,
    ...(o.onAck ? { onAck: o.onAck } : {}),
  });
  o.onProgress?.({ elapsedS: 0, durationS: o.durationS, phase: 'setup', ok: 0, failed: 0, affectedFailed: 0 });
  await accounts.setup(o.users ?? 200);
  return accounts;
}

/** Delivery: the dishes, the menu and one order per fence before the traffic (reported as 'setup'); the menu is looked at through the edges too (Host: the apex). */
async function setUpDelivery(
  o: DrillOptions,
  plan: DrillPlan,
  edge: { edges: Map<string, string>; host: string },
): Promise<DeliveryWorkload> {
  const delivery = new DeliveryWorkload({
    ...edge,
    dispatcher: plan.control.dispatcher,
    clock: o.clock,
    random: o.random,
    routers: plan.routers,
    ownerOf: (shard) => plan.shardMap.shards[shard]?.zone ?? '',
  });
  o.onProgress?.({ elapsedS: 0, durationS: o.durationS, phase: 'setup', ok: 0, failed: 0, affectedFailed: 0 });
  await delivery.setup(o.users ?? 200);
  return delivery;
}
