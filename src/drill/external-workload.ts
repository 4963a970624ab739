import type { Dispatcher } from 'undici';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import type { WorkloadRequest } from './accounts-workload.ts';

/** What the read-back of an external app found: each user's last acknowledged write, read through the routers. */
export interface ExternalReadBack {
  /** Users with at least one acknowledged write (only the last one per user is checked). */
  acknowledged: number;
  found: number;
  missing: number;
  /** Missing writes by the zone that acknowledged them. */
  missingBy: Record<string, number>;
  /** The first few missing writes. */
  examples: { key: string; zone: string; status: number }[];
  tookMs: number;
}

/**
 * The drill's workload for an external app (`zones.<z>.app`), which stores where the drill
 * cannot look: writes `PUT <path>/<user>` with a unique body, reads `GET <path>/<user>`, and
 * remembers each user's last acknowledged write. After the drill it reads every one back
 * through the routers (at the shard's owner of the moment): an answer that is not 2xx or does
 * not contain the body counts as lost — an app holding its data in memory, or one whose data
 * is not replicated between zones, loses writes here and the drill says so.
 */
export class ExternalWorkload {
  private readonly last = new Map<string, { body: string; zone: string }>();
  private seq = 0;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
  ) {}

  /** The request one user action sends: a user with nothing acknowledged yet writes first (a read would be a 404). */
  next(u: { id: string }, write: boolean): WorkloadRequest {
    const url = `${this.path}/${encodeURIComponent(u.id)}`;
    if (!write && this.last.has(u.id))
      return { method: 'GET', path: url, headers: { 'x-user-id': u.id }, write: false };
    const body = `drill ${u.id} #${++this.seq}`;
    return {
      method: 'PUT',
      path: url,
      headers: { 'x-user-id': u.id, 'content-type': 'text/plain' },
      body,
      write: true,
      done: (status, _text, servedBy) => {
        if (status >= 200 && status < 300) this.last.set(u.id, { body, zone: servedBy ?? '' });
        return undefined;
      },
    };
  }

  /** Reads each user's last acknowledged write back through `router` (any zone's: it routes to the owner). */
  async readBack(router: string, dispatcher: Dispatcher): Promise<ExternalReadBack> {
    const t0 = this.clock.now();
    const out: ExternalReadBack = {
      acknowledged: this.last.size,
      found: 0,
      missing: 0,
      missingBy: {},
      examples: [],
      tookMs: 0,
    };
    const entries = [...this.last];
    for (let i = 0; i < entries.length; i += 32)
      await Promise.all(
        entries.slice(i, i + 32).map(async ([id, w]) => {
          let status = 0;
          let text = '';
          try {
            const r = await request(`${router}${this.path}/${encodeURIComponent(id)}`, {
              headers: { 'x-user-id': id },
              dispatcher,
            });
            status = r.statusCode;
            text = await r.body.text();
          } catch {
            // no answer: missing
          }
          if (status >= 200 && status < 300 && text.includes(w.body)) out.found++;
          else {
            out.missing++;
            out.missingBy[w.zone] = (out.missingBy[w.zone] ?? 0) + 1;
            if (out.examples.length < 10) out.examples.push({ key: id, zone: w.zone, status });
          }
        }),
      );
    out.tookMs = Math.round(this.clock.now() - t0);
    return out;
  }
}
