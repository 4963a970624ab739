import type { Dispatcher } from 'undici';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import type { WorkloadRequest } from './accounts-workload.ts';

/** What the read-back of an external app found: each user's last acknowledged write, read through the routers. */
export interface ExternalReadBack {
  /** Users with at least one acknowledged write (only the last one per user is checked). */
  acknowledged: number;
  /** Those last acknowledged writes by the zone that acknowledged them. */
  acknowledgedBy: Record<string, number>;
  found: number;
  missing: number;
  /** Missing writes by the zone that acknowledged them. */
  missingBy: Record<string, number>;
  /** The first few missing writes. */
  examples: { key: string; zone: string; status: number; want: string; got: string }[];
  tookMs: number;
}

/** One write the workload sent: its body, and when it went out and was acknowledged (`tick` order). */
interface SentWrite {
  body: string;
  sentAt: number;
  ackedAt?: number;
}

/**
 * The drill's workload for an external app (`zones.<z>.app`), which stores where the drill
 * cannot look: writes `PUT <path>/<user>` with a unique body, reads `GET <path>/<user>`, and
 * remembers each user's last acknowledged write. After the drill it reads every one back
 * through the routers (at the shard's owner of the moment): an answer that is not 2xx or holds
 * neither that write nor a later one of the user (see holds()) counts as lost — an app holding its data in memory, or one whose data
 * is not replicated between zones, loses writes here and the drill says so.
 */
export class ExternalWorkload {
  /** Each user's last acknowledged write (the last 2xx to arrive) and the zone that served it. */
  private readonly last = new Map<string, { w: SentWrite; zone: string }>();
  /** Each user's writes in the order sent, acknowledged or not. */
  private readonly sent = new Map<string, SentWrite[]>();
  private seq = 0;
  /** Orders sends and acknowledgements. */
  private tick = 0;

  constructor(
    private readonly path: string,
    private readonly clock: Clock,
  ) {}

  /** The request one user action sends: a user with nothing acknowledged yet writes first (a read would be a 404). */
  next(u: { id: string }, write: boolean): WorkloadRequest {
    const url = `${this.path}/${encodeURIComponent(u.id)}`;
    if (!write && this.last.has(u.id))
      return { method: 'GET', path: url, headers: { 'x-user-id': u.id }, write: false };
    const w: SentWrite = { body: `drill ${u.id} #${++this.seq}`, sentAt: ++this.tick };
    const sent = this.sent.get(u.id) ?? [];
    sent.push(w);
    this.sent.set(u.id, sent);
    return {
      method: 'PUT',
      path: url,
      headers: { 'x-user-id': u.id, 'content-type': 'text/plain' },
      body: w.body,
      write: true,
      done: (status, _text, servedBy) => {
        if (status >= 200 && status < 300) {
          w.ackedAt = ++this.tick;
          this.last.set(u.id, { w, zone: servedBy ?? '' });
        }
        return undefined;
      },
    };
  }

  /**
   * Reads each user's last acknowledged write back through `router` (any zone's: it routes to
   * the owner); the ones not found are read again every 250 ms until `timeoutMs` has passed
   * (an app whose data replicates may still be catching up after the zone's return).
   */
  async readBack(router: string, dispatcher: Dispatcher, timeoutMs = 0): Promise<ExternalReadBack> {
    const t0 = this.clock.now();
    const acknowledgedBy: Record<string, number> = {};
    for (const w of this.last.values()) acknowledgedBy[w.zone] = (acknowledgedBy[w.zone] ?? 0) + 1;
    let todo = [...this.last];
    let found = 0;
    for (;;) {
      const pass = await this.readOnce(router, dispatcher, todo);
      found += pass.found;
      todo = todo.filter(([id]) => pass.missingIds.has(id));
      if (todo.length === 0 || this.clock.now() - t0 >= timeoutMs) {
        pass.out.found = found;
        pass.out.acknowledged = this.last.size;
        pass.out.acknowledgedBy = acknowledgedBy;
        pass.out.tookMs = Math.round(this.clock.now() - t0);
        return pass.out;
      }
      await this.clock.sleep(250);
    }
  }

  /**
   * The answer holds the user's last acknowledged write `w`, or a write of the user that may
   * rightly have replaced it: one not acknowledged before `w` was sent (still in flight, timed
   * out or failed — it may have landed after `w`). Bodies are looked for as JSON strings, or
   * as the whole answer.
   */
  private holds(text: string, id: string, w: SentWrite): boolean {
    const could = (this.sent.get(id) ?? []).filter((x) => x === w || x.ackedAt === undefined || x.ackedAt > w.sentAt);
    return could.some((x) => text.trim() === x.body || text.includes(JSON.stringify(x.body)));
  }

  private async readOnce(router: string, dispatcher: Dispatcher, entries: [string, { w: SentWrite; zone: string }][]) {
    const out: ExternalReadBack = {
      acknowledged: 0,
      acknowledgedBy: {},
      found: 0,
      missing: 0,
      missingBy: {},
      examples: [],
      tookMs: 0,
    };
    const missingIds = new Set<string>();
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
          if (status >= 200 && status < 300 && this.holds(text, id, w.w)) out.found++;
          else {
            missingIds.add(id);
            out.missing++;
            out.missingBy[w.zone] = (out.missingBy[w.zone] ?? 0) + 1;
            if (out.examples.length < 10)
              out.examples.push({ key: id, zone: w.zone, status, want: w.w.body, got: text.slice(0, 200) });
          }
        }),
      );
    return { out, found: out.found, missingIds };
  }
}
