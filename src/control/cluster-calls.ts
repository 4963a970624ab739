import { Agent, request } from 'undici';
import { controlErrors } from './errors.ts';
import { type ControlServer, FORWARDED_HEADER } from './server.ts';

/** Another process of the cluster, as its record in the control Kv (GET /api/cluster) names it. */
export interface Peer {
  id: string;
  zones: string[];
  /** Its control API's base URL (no trailing slash). */
  control: string;
}

/** A process whose part of a cluster-wide answer is missing, and why ("not answering: …"). */
export interface Unreached {
  process: string;
  zones: string[];
  error: string;
}

/** What a peer answered: its status and JSON body. */
export interface PeerReply {
  status: number;
  json: unknown;
}

/** How long a forwarded call may take (ms): bounded so one dead process cannot stall a page. */
export const FORWARD_TIMEOUT_MS = 5000;

/** How long a forwarded read may take (ms): the console's snapshot lists conflicts every second. */
export const FORWARD_READ_TIMEOUT_MS = 1500;

interface ProcessJson {
  id?: string;
  zones?: string[];
  control?: string;
  alive?: boolean;
  here?: boolean;
}

/**
 * Calls from this process's control API to the other processes' (distributed mode: one
 * process per zone): the live ones from the control Kv's registry, each call signed with the
 * cluster's zone-to-zone secret and marked forwarded (the receiver answers for its own zones
 * only), bounded by FORWARD_TIMEOUT_MS. In one process (or without a registry) there are no
 * peers and every cluster-wide call is this process's own.
 */
export class ClusterCalls {
  /** One connection pool per timeout, its connects bounded by it too (undici's own bound is 10 s). */
  private readonly pools = new Map<number, Agent>();

  constructor(
    private readonly control: ControlServer,
    private readonly timeoutMs = FORWARD_TIMEOUT_MS,
  ) {}

  /** A partitioned peer drops the SYN: without a connect bound the call waited 10 s, not timeoutMs. */
  private pool(timeoutMs: number): Agent {
    let a = this.pools.get(timeoutMs);
    if (!a) {
      a = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      this.pools.set(timeoutMs, a);
    }
    return a;
  }

  /**
   * The other live processes, and the dead ones whose zones no live process runs now (their
   * zones' answers are missing: the caller says so rather than leaving them out silently).
   */
  async peers(): Promise<{ self: { id: string; zones: string[] }; live: Peer[]; dead: Unreached[] }> {
    const c = (await this.control.get('/api/cluster')) as { processes?: ProcessJson[] } | undefined;
    const ps = c?.processes ?? [];
    const me = ps.find((p) => p.here);
    const here = me?.zones ?? [];
    const live: Peer[] = [];
    for (const p of ps)
      if (!p.here && p.alive && /^https?:\/\//.test(p.control ?? ''))
        live.push({ id: p.id ?? '?', zones: p.zones ?? [], control: loopback(p.control!) });
    const covered = new Set([...here, ...live.flatMap((p) => p.zones)]);
    const dead: Unreached[] = [];
    for (const p of ps) {
      const zones = (p.zones ?? []).filter((z) => !covered.has(z));
      if (p.here || p.alive || zones.length === 0) continue;
      dead.push({ process: p.id ?? '?', zones, error: 'not answering: its process record is stale (process down?)' });
      for (const z of zones) covered.add(z);
    }
    return { self: { id: me?.id ?? 'local', zones: here }, live, dead };
  }

  /**
   * One signed call to a peer's control API. Throws ERR_CONTROL_PEER_UNAVAILABLE ("<zones>:
   * not answering: …") when it cannot be reached or does not answer in time; any answer,
   * whatever its status, is returned.
   */
  async call(
    p: Peer,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<PeerReply> {
    const signer = this.control.zoneSigner();
    const who = p.zones.join(',') || p.id;
    if (!signer)
      throw controlErrors.ERR_CONTROL_PEER_UNAVAILABLE(
        `${who}: not asked: this process has no cluster secret to sign with`,
      );
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { [FORWARDED_HEADER]: '1' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    try {
      const r = await request(`${p.control}${path}`, {
        method,
        headers: signer.signHeaders(method, path, headers, text ?? null),
        ...(text === undefined ? {} : { body: text }),
        dispatcher: this.pool(timeoutMs),
      });
      return { status: r.statusCode, json: await r.body.json().catch(() => undefined) };
    } catch (e) {
      throw controlErrors.ERR_CONTROL_PEER_UNAVAILABLE(`${who}: not answering: ${(e as Error).message}`, {
        details: { process: p.id, zones: p.zones },
        cause: e,
      });
    }
  }

  /**
   * The same call on every live peer at once: each answer with its peer, or the peer in
   * `unreached` (with the dead processes' zones) when it did not answer or answered ≥ 400.
   */
  async fanOut(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    timeoutMs = this.timeoutMs,
  ): Promise<{ replies: { peer: Peer; json: unknown }[]; unreached: Unreached[] }> {
    const { live, dead } = await this.peers();
    const replies: { peer: Peer; json: unknown }[] = [];
    const unreached: Unreached[] = [...dead];
    await Promise.all(
      live.map(async (peer) => {
        try {
          const r = await this.call(peer, method, path, body, timeoutMs);
          if (r.status < 400) replies.push({ peer, json: r.json });
          else unreached.push({ process: peer.id, zones: peer.zones, error: replyError(r) });
        } catch (e) {
          unreached.push({ process: peer.id, zones: peer.zones, error: (e as Error).message });
        }
      }),
    );
    return { replies, unreached };
  }
}

/** A refusal's `CODE message`, as a peer answered it. */
export function replyError(r: PeerReply): string {
  const j = r.json as { error?: string; message?: string } | undefined;
  return `${r.status} ${j?.error ?? ''} ${j?.message ?? ''}`.trim();
}

/** A control URL to call: no trailing slash, and one listening on every address reached on loopback. */
export function loopback(u: string): string {
  return u.replace(/\/+$/, '').replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//[::1]:');
}
