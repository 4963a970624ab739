import type { IncomingMessage } from 'node:http';
import { isPlatformError, PlatformError } from '../core/errors.ts';
import { type ClusterCalls, FORWARD_READ_TIMEOUT_MS, type Peer, replyError, type Unreached } from './cluster-calls.ts';
import { controlErrors } from './errors.ts';
import { readBody } from './http-json.ts';
import { type ResolveAllReply, resolveAcross } from './resolve-across.ts';
import type { ControlServer } from './server.ts';

/** One open conflict as a process lists it (the fields the merge reads; the rest passes through). */
interface ConflictJson {
  id: string;
  zones?: string[];
  [k: string]: unknown;
}

interface ConflictsJson {
  conflicts?: ConflictJson[];
  tables?: ConflictJson[];
}

/** The cluster's open conflicts: each with the processes that hold it, and who did not answer. */
export interface ClusterConflicts {
  conflicts: (ConflictJson & { processes: string[] })[];
  tables?: (ConflictJson & { processes: string[] })[];
  unreached: Unreached[];
}

/** `here` is this process (in-process calls); any other holder is a peer reached over HTTP. */
type Holder = { here: true; id: string } | { here: false; peer: Peer };

/**
 * The conflicts of the whole cluster from any process's control API (distributed mode: each
 * process knows only its own zones' locked records):
 *
 * - `GET /api/cluster/conflicts`: this process's GET /api/conflicts merged with every live
 *   peer's (forwarded, signed), each conflict once with `zones` merged and `processes`; the
 *   processes that did not answer in `unreached` ("not answering: …").
 * - `POST /api/cluster/conflicts/resolve {"id","pick","zone"?}`: resolved by the process that
 *   holds it (the one running `zone` when given), forwarded there when it is another.
 * - `POST /api/cluster/conflicts/resolve-all {"pickZone",…}`: every process's resolve-all,
 *   each id resolved once (resolveAcross); processes that failed in `failed`.
 *
 * In one process these are the local routes with `processes` and `unreached` added.
 */
export function registerClusterConflicts(control: ControlServer, calls: ClusterCalls): void {
  control.route('GET', '/api/cluster/conflicts', () => clusterConflicts(control, calls));

  control.route('POST', '/api/cluster/conflicts/resolve', async (req) => {
    const body = await jsonBody(req, 64 * 1024, '{"id":"resource/key","pick":"ZONE|VERSION"}');
    if (typeof body.id !== 'string' || typeof body.pick !== 'string')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('need {"id":"resource/key","pick":"ZONE|VERSION"}');
    const zone = typeof body.zone === 'string' ? body.zone : undefined;
    const all = await clusterConflicts(control, calls);
    const c = [...all.conflicts, ...(all.tables ?? [])].find((x) => x.id === body.id);
    const { self, live } = await calls.peers();
    // the process that runs the zone asked for, else the first that holds the record
    const holders = (c?.processes ?? []).filter((p) => !zone || zoneOf(p, self, live)?.includes(zone));
    const pick = holders[0] ?? c?.processes[0];
    const peer = pick === undefined || pick === self.id ? undefined : live.find((p) => p.id === pick);
    if (!c && all.unreached.length > 0)
      throw controlErrors.ERR_CONTROL_PEER_UNAVAILABLE(
        `${body.id} is not open in any process that answered; ${unreachedText(all.unreached)}`,
      );
    if (!peer)
      return { ...((await control.invoke('POST', '/api/conflicts/resolve', body)) as object), process: self.id };
    const r = await calls.call(peer, 'POST', '/api/conflicts/resolve', body);
    if (r.status >= 400) throw forwardedError(r.status, r.json, peer);
    return { ...(r.json as object), process: peer.id };
  });

  control.route('POST', '/api/cluster/conflicts/resolve-all', async (req) => {
    const body = await jsonBody(req, 1 << 20, '{"pickZone":"ZONE","resource"?:"NAME","dryRun"?:true}');
    const { dryRun, ...rest } = body;
    const { self, live, dead } = await calls.peers();
    const holders: Holder[] = [{ here: true, id: self.id }, ...live.map((peer) => ({ here: false as const, peer }))];
    const r = await resolveAcross(
      holders,
      (h) => (h.here ? h.id : `${h.peer.id} (${h.peer.zones.join(',')})`),
      async (h, b) => {
        if (h.here) return (await control.invoke('POST', '/api/conflicts/resolve-all', b)) as ResolveAllReply;
        const res = await calls.call(h.peer, 'POST', '/api/conflicts/resolve-all', b);
        if (res.status >= 400) throw forwardedError(res.status, res.json, h.peer);
        return res.json as ResolveAllReply;
      },
      rest,
      dryRun === true,
    );
    return {
      ...r,
      dryRun: dryRun === true,
      processes: holders.length,
      failed: [...r.failed, ...dead.map((d) => ({ control: d.process, error: `${d.zones.join(',')}: ${d.error}` }))],
    };
  });
}

/** One zone's anycast state as its process lists it (GET /api/anycast). */
interface AnycastZoneJson {
  zone: string;
  [k: string]: unknown;
}

/**
 * Anycast across the cluster (distributed mode: each process announces for its own zones):
 *
 * - `GET /api/cluster/anycast`: every process's GET /api/anycast merged, each zone once with
 *   the process that runs it; the processes that did not answer in `unreached`.
 * - `POST /api/cluster/anycast/drain {"zone","drain"?}`: the drain (or undrain) done by the
 *   process that runs the zone, forwarded there when it is another.
 *
 * The dashboard reads the first, so it shows every zone's announcements from any process.
 */
export function registerClusterAnycast(control: ControlServer, calls: ClusterCalls): void {
  control.route('GET', '/api/cluster/anycast', async () => {
    const { self } = await calls.peers();
    const local = (await control.get('/api/anycast')) as { enabled?: boolean; zones?: AnycastZoneJson[] } | undefined;
    const { replies, unreached } = await calls.fanOut('GET', '/api/anycast', undefined, FORWARD_READ_TIMEOUT_MS);
    const zones = new Map<string, AnycastZoneJson & { process: string }>();
    let enabled = local?.enabled === true;
    const add = (list: AnycastZoneJson[] | undefined, process: string) => {
      for (const z of list ?? []) if (!zones.has(z.zone)) zones.set(z.zone, { ...z, process });
    };
    add(local?.zones, self.id);
    for (const r of replies) {
      const j = r.json as { enabled?: boolean; zones?: AnycastZoneJson[] } | undefined;
      enabled ||= j?.enabled === true;
      add(j?.zones, r.peer.id);
    }
    return { enabled, zones: [...zones.values()].sort((a, b) => (a.zone < b.zone ? -1 : 1)), unreached };
  });

  control.route('POST', '/api/cluster/anycast/drain', async (req) => {
    const body = await jsonBody(req, 4096, '{"zone":"NAME","drain":true|false}');
    if (typeof body.zone !== 'string')
      throw controlErrors.ERR_CONTROL_BAD_REQUEST('need a zone: {"zone":"NAME","drain":true|false}');
    const fwd = { zone: body.zone, ...(body.drain === undefined ? {} : { drain: String(body.drain) }) };
    const { self, live, dead } = await calls.peers();
    const peer = self.zones.includes(body.zone) ? undefined : live.find((p) => p.zones.includes(body.zone as string));
    if (!peer) {
      const gone = dead.find((d) => d.zones.includes(body.zone as string));
      if (gone) throw controlErrors.ERR_CONTROL_PEER_UNAVAILABLE(`${body.zone}: ${gone.error}`);
      return { ...((await control.invoke('POST', '/api/anycast/drain', fwd)) as object), process: self.id };
    }
    const r = await calls.call(peer, 'POST', '/api/anycast/drain', fwd);
    if (r.status >= 400) throw forwardedError(r.status, r.json, peer);
    return { ...(r.json as object), process: peer.id };
  });
}

async function clusterConflicts(control: ControlServer, calls: ClusterCalls): Promise<ClusterConflicts> {
  const { self } = await calls.peers();
  const local = (await control.get('/api/conflicts')) as ConflictsJson | undefined;
  const { replies, unreached } = await calls.fanOut('GET', '/api/conflicts', undefined, FORWARD_READ_TIMEOUT_MS);
  const byId = new Map<string, ConflictJson & { processes: string[] }>();
  const tables = new Map<string, ConflictJson & { processes: string[] }>();
  const add = (into: typeof byId, list: ConflictJson[] | undefined, process: string) => {
    for (const c of list ?? []) {
      const seen = into.get(c.id);
      if (!seen) into.set(c.id, { ...c, processes: [process] });
      else {
        seen.processes.push(process);
        if (c.zones) seen.zones = [...new Set([...(seen.zones ?? []), ...c.zones])];
      }
    }
  };
  add(byId, local?.conflicts, self.id);
  add(tables, local?.tables, self.id);
  for (const r of replies) {
    add(byId, (r.json as ConflictsJson | undefined)?.conflicts, r.peer.id);
    add(tables, (r.json as ConflictsJson | undefined)?.tables, r.peer.id);
  }
  const sorted = <T extends { id: string }>(m: Map<string, T>) =>
    [...m.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  return {
    conflicts: sorted(byId),
    ...(tables.size > 0 || local?.tables ? { tables: sorted(tables) } : {}),
    unreached,
  };
}

function zoneOf(process: string, self: { id: string; zones: string[] }, live: Peer[]): string[] | undefined {
  return process === self.id ? self.zones : live.find((p) => p.id === process)?.zones;
}

/** "sh-b: not answering: …; gz-a: …" */
export function unreachedText(u: readonly Unreached[]): string {
  return u
    .map((x) => `${x.zones.join(',') || x.process}: ${x.error.replace(/^[^:]*: (?=not answering)/, '')}`)
    .join('; ');
}

/** A peer's refusal, kept with its code so the caller sees what the holder said. */
function forwardedError(status: number, json: unknown, peer: Peer): Error {
  const j = json as { error?: string; message?: string } | undefined;
  const message = `${peer.zones.join(',') || peer.id}: ${j?.message ?? replyError({ status, json })}`;
  return j?.error
    ? new PlatformError(j.error, message, { details: { status, process: peer.id } })
    : controlErrors.ERR_CONTROL_PEER_UNAVAILABLE(message, { details: { status, process: peer.id } });
}

async function jsonBody(req: IncomingMessage, limit: number, usage: string): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = JSON.parse((await readBody(req, limit)).toString('utf8') || '{}');
  } catch (e) {
    if (isPlatformError(e)) throw e;
    throw controlErrors.ERR_CONTROL_BAD_REQUEST(`body must be JSON: ${usage}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw controlErrors.ERR_CONTROL_BAD_REQUEST(`body must be a JSON object: ${usage}`);
  return body as Record<string, unknown>;
}
