import type { AuditEntry } from '../failover/index.ts';
import { failoverErrors } from '../failover/index.ts';
import { shardForKey } from '../shardmap/index.ts';
import { AccountsWorkload } from './accounts-workload.ts';
import { type Control, controlJson, type ShardMapJson } from './control-http.ts';
import type { DrillOptions, DrillReport } from './types.ts';

/** A drill user: the key it writes under, that key's shard, and the zone owning it (where steering sends it). */
export interface DrillUser {
  id: string;
  shard: number;
  home: string;
}

/** What the drill found in the cluster before the fault, and whom it will send traffic for. */
export interface DrillPlan {
  control: Control;
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
}

/** Reads the cluster through the control API and picks the users; on the accounts app, sets them up too. */
export async function planDrill(o: DrillOptions, control: Control): Promise<DrillPlan> {
  const { routers, apps } = o.endpoints ?? (await readEndpoints(control, o.zone));
  if (!routers.has(o.zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`drill: no router for zone "${o.zone}"`);
  const topo = await controlJson<{ app?: string }>(control, '/api/topology');
  const workload: DrillReport['workload'] = topo.app === 'accounts' ? 'accounts' : 'echo';
  const shardMap = await controlJson<ShardMapJson>(control, '/api/shardmap');
  const auditBefore = await controlJson<{ entries: AuditEntry[] }>(control, '/api/audit?limit=1');
  const lastSeq = auditBefore.entries.at(-1)?.seq ?? 0;
  const plan: DrillPlan = {
    control,
    routers,
    apps,
    zones: [...routers.keys()],
    workload,
    path: trafficPath(workload, o.consistency),
    shardMap,
    lastSeq,
    users: [],
    affectedUsers: 0,
  };
  if (workload === 'accounts') {
    plan.accounts = await setUpAccounts(o, plan);
    plan.users = plan.accounts.users;
  } else plan.users = echoUsers(o, shardMap);
  plan.affectedUsers = plan.users.filter((u) => u.home === o.zone).length;
  return plan;
}

/** Each zone's router and app from GET /api/endpoints; the drilled zone must have a router. */
async function readEndpoints(
  control: Control,
  zone: string,
): Promise<{ routers: Map<string, string>; apps: Map<string, string> }> {
  const eps = await controlJson<{ endpoints: { zone: string | null; role: string; host: string; port: number }[] }>(
    control,
    '/api/endpoints',
  );
  const routers = new Map<string, string>();
  for (const e of eps.endpoints) if (e.role === 'router' && e.zone) routers.set(e.zone, `http://${e.host}:${e.port}`);
  if (!routers.has(zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`drill: no router for zone "${zone}"`);
  const apps = new Map<string, string>();
  for (const e of eps.endpoints) if (e.role === 'app' && e.zone) apps.set(e.zone, `http://${e.host}:${e.port}`);
  return { routers, apps };
}

/** Fenced traffic writes profiles, available traffic orders; the accounts app has its own paths. */
function trafficPath(workload: DrillReport['workload'], consistency: DrillOptions['consistency']): string {
  if (workload === 'accounts') return '/api/profiles, /api/comments';
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
