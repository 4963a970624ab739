import { loopback, type ResolveAllReply as ProcessReply, resolveAcross } from '../control/index.ts';
import { controlCall, type ControlReply as Reply } from './control-client.ts';

/** What `multizone conflicts resolve --all` asks for. */
export interface ResolveAllAsk {
  pickZone: string;
  resource?: string;
  dryRun?: boolean;
}

/** The merged outcome over every process asked. */
export interface ResolveAllOutcome {
  /** Conflict ids resolved (dry run: that would be), each once, in id order. */
  resolved: string[];
  /** Conflicts left open, each once, with the reason (and code when a store refused). */
  skipped: { id: string; reason: string; code?: string }[];
  dryRun: boolean;
  /** The control URLs asked (several when GET /api/cluster lists several alive processes). */
  processes: string[];
  /** Processes whose call failed: their zones' conflicts may still be open. */
  failed: { control: string; error: string }[];
}

/**
 * The control URLs of every alive process per GET /api/cluster
 * (`{processes:[{id, zones, control, alive}]}`), or just `base` when that route does not
 * answer 200 (a single process, or a cluster without the route) or lists no alive process.
 */
export async function clusterControlUrls(base: string): Promise<string[]> {
  let r: Reply;
  try {
    r = await controlCall(base, '/api/cluster', 'GET');
  } catch {
    return [base]; // the resolve-all call itself reports an unreachable control API
  }
  const ps = (r.json as { processes?: unknown } | undefined)?.processes;
  if (r.status !== 200 || !Array.isArray(ps)) return [base];
  const urls = new Set<string>();
  for (const p of ps as { control?: unknown; alive?: unknown }[])
    if (p?.alive === true && typeof p.control === 'string' && p.control !== '') urls.add(loopback(p.control));
  return urls.size > 0 ? [...urls] : [base];
}

async function resolveAllAt(control: string, body: Record<string, unknown>): Promise<ProcessReply> {
  const r = await controlCall(control, '/api/conflicts/resolve-all', 'POST', body);
  const j = r.json as (Partial<ProcessReply> & { error?: string; message?: string }) | undefined;
  if (r.status !== 200 || !j || !Array.isArray(j.resolved) || !Array.isArray(j.skipped))
    throw Object.assign(new Error(`${control}: ${j?.message ?? `resolve-all answered ${r.status}`}`), {
      code: j?.error,
    });
  return { resolved: j.resolved, skipped: j.skipped };
}

/**
 * Resolves every open conflict by `pickZone`'s version on every alive process of the cluster
 * (clusterControlUrls), each process resolving only the ids given to it (resolveAcross). A
 * reply with an error code from the only process asked (e.g. ERR_REPL_PICK_ZONE_UNKNOWN) is
 * thrown with that code; with several processes, failures are reported in `failed`.
 */
export async function resolveAllConflicts(base: string, ask: ResolveAllAsk): Promise<ResolveAllOutcome> {
  const processes = await clusterControlUrls(base);
  const dryRun = ask.dryRun === true;
  const body = { pickZone: ask.pickZone, ...(ask.resource === undefined ? {} : { resource: ask.resource }) };
  const r = await resolveAcross(processes, (c) => c, resolveAllAt, body, dryRun);
  return { ...r, dryRun, processes };
}
