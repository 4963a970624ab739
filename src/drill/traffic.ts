import { request } from 'undici';
import type { Timer } from '../core/clock.ts';
import { HEADERS } from '../shardmap/index.ts';
import type { AccountsUser, WorkloadRequest } from './accounts-workload.ts';
import { controlJson, type ShardMapJson } from './control-http.ts';
import type { DrillPlan, DrillUser } from './plan.ts';
import type { DrillOptions } from './types.ts';

/** One user action as the drill saw it. */
export interface Sample {
  /** Wall ms the request was sent; relative to the fault once the traffic has ended. */
  t0: number;
  /** The user's home is the faulted zone. */
  affected: boolean;
  write: boolean;
  ok: boolean;
  /** `ok`, or the error kind: `http <status> <code>`, `timeout <code>`, `connect <code>`, `client-overload`. */
  kind: string;
  /** Answered (2xx): the zone that served it, and the shard, epoch and time it was served at. */
  servedBy?: string;
  shard?: number;
  epoch?: number;
  servedAt?: number;
  /** The zone whose router the request entered at. */
  entry: string;
}

/** Running totals, also shown in progress callbacks; `affectedFailed` counts only after the fault. */
export interface TrafficCounts {
  ok: number;
  failed: number;
  affectedFailed: number;
}

/** What the traffic recorded. Answers that come after the drain still land in both (as they always did). */
export interface Traffic {
  samples: Sample[];
  counts: TrafficCounts;
  /** Wall ms the fault was made (∞ when it never was). */
  faultAt: number;
}

/** The tick of the request loop (ms); the rate is spread over ticks, carrying fractions over. */
const TICK_MS = 20;
/** Past this many requests in flight the drill records `client-overload` instead of sending more. */
const MAX_INFLIGHT = 512;

/**
 * Sends `o.rps` requests a second for `o.durationS` seconds, each for a random user entering at
 * its home zone (or another one when its home is refused or declared down), calls `fault` a
 * quarter of the way in (at least 2 s), then waits up to 5 s for the answers still in flight.
 */
export async function driveTraffic(o: DrillOptions, plan: DrillPlan, fault: () => Promise<unknown>): Promise<Traffic> {
  const run = new TrafficRun(o, plan);
  const steer = run.watchSteering();
  const progress = o.clock.setInterval(250, () => run.reportProgress());
  await run.loop(fault);
  for (let i = 0; i < 100 && run.inflight > 0; i++) await o.clock.sleep(50);
  progress.cancel();
  steer.cancel();
  for (const s of run.samples) s.t0 -= run.faultAt;
  const { ok, failed, affectedFailed } = run.counts;
  o.onProgress?.({ elapsedS: o.durationS, durationS: o.durationS, phase: 'draining', ok, failed, affectedFailed });
  return { samples: run.samples, counts: run.counts, faultAt: run.faultAt };
}

/** The state one traffic run shares between its loop, its requests and its steering watch. */
class TrafficRun {
  readonly samples: Sample[] = [];
  readonly counts: TrafficCounts = { ok: 0, failed: 0, affectedFailed: 0 };
  inflight = 0;
  /** Wall ms the fault was sent (∞ until then). */
  faultAt = Number.POSITIVE_INFINITY;
  private readonly start: number;
  private faultSent = false;
  /** Entry zone → wall ms until which clients avoid it. */
  private readonly avoid = new Map<string, number>();
  private declaredDown = new Set<string>();

  constructor(
    private readonly o: DrillOptions,
    private readonly plan: DrillPlan,
  ) {
    this.start = o.clock.wallTime();
  }

  /**
   * Steering: zones the controller has declared down get no new users. Zone states are the
   * leader's: another process's controller does not judge zones while it follows, so its
   * states can be old. The drill asks its control API where the leader is and then asks the
   * leader (unless the leader runs the drilled zone, which a fault may take away).
   */
  watchSteering(): Timer {
    let from = this.plan.control;
    return this.o.clock.setInterval(250, () => {
      void controlJson<ShardMapJson>(from, '/api/shardmap?shards=0')
        .then((s) => {
          const l = s.leader;
          const lc = l?.control?.replace(/\/$/, '');
          const usable = lc !== undefined && !(l?.zones ?? []).includes(this.o.zone);
          if (usable && lc !== from.base) {
            from = { ...this.plan.control, base: lc }; // the next tick asks the leader
            return;
          }
          if (!usable) from = this.plan.control;
          this.declaredDown = new Set(
            Object.entries(s.states)
              .filter(([, v]) => v.state === 'failing' || v.state === 'failed')
              .map(([k]) => k),
          );
        })
        .catch(() => {
          from = this.plan.control;
        });
    });
  }

  /** The running totals for `onProgress`: 'warmup' until the fault is sent, 'fault' after. */
  reportProgress(): void {
    this.o.onProgress?.({
      elapsedS: (this.o.clock.wallTime() - this.start) / 1000,
      durationS: this.o.durationS,
      phase: this.faultSent ? 'fault' : 'warmup',
      ...this.counts,
    });
  }

  /** Ticks until the duration is up; rejects if the fault cannot be sent. */
  loop(fault: () => Promise<unknown>): Promise<void> {
    const { clock, durationS, rps } = this.o;
    const faultAfter = Math.max(2, durationS / 4) * 1000;
    let carry = 0;
    let done = false;
    return new Promise<void>((resolve, reject) => {
      const t = clock.setInterval(TICK_MS, () => {
        if (done) return;
        const elapsed = clock.wallTime() - this.start;
        if (elapsed >= durationS * 1000) {
          done = true;
          t.cancel();
          resolve();
          return;
        }
        if (!this.faultSent && elapsed >= faultAfter) {
          this.faultSent = true;
          this.faultAt = clock.wallTime();
          fault().catch((e) => {
            done = true;
            t.cancel();
            reject(e);
          });
        }
        // ramp up over the first 2 s, as real traffic would, instead of a cold-start burst
        carry += (rps * Math.min(1, elapsed / 2000) * TICK_MS) / 1000;
        while (carry >= 1) {
          carry--;
          this.sendOne();
        }
      });
    });
  }

  /** One request for a random user, unless too many are in flight already. */
  private sendOne(): void {
    if (this.inflight >= MAX_INFLIGHT) {
      const t0 = this.o.clock.wallTime();
      this.samples.push({ t0, affected: false, write: false, ok: false, kind: 'client-overload', entry: '' });
      this.counts.failed++;
      return;
    }
    const { users } = this.plan;
    this.fire(users[this.o.random.int(users.length)]!);
  }

  /** Where the user enters: its home while usable, else a random usable zone (like the SDK's fallback). */
  private entryFor(home: string): string {
    const { zones } = this.plan;
    const now = this.o.clock.wallTime();
    const usable = (z: string) => !this.declaredDown.has(z) && (this.avoid.get(z) ?? 0) <= now;
    if (usable(home)) return home;
    let rest = zones.filter((z) => z !== home && usable(z));
    // everything refused lately (a stall): any zone steering has not declared down
    if (!rest.length) rest = zones.filter((z) => z !== home && !this.declaredDown.has(z));
    return rest.length ? rest[this.o.random.int(rest.length)]! : home;
  }

  private requestFor(u: DrillUser, wantWrite: boolean): WorkloadRequest {
    if (this.plan.accounts) return this.plan.accounts.next(u as AccountsUser, wantWrite);
    if (this.plan.external) return this.plan.external.next(u, wantWrite);
    if (this.plan.delivery) return this.plan.delivery.next(u, wantWrite);
    return {
      method: wantWrite ? 'POST' : 'GET',
      path: `${this.plan.path}/${u.id}`,
      headers: { 'x-user-id': u.id },
      write: wantWrite,
    };
  }

  /** Sends one user action and records its sample when it settles. */
  private fire(u: DrillUser): void {
    // the draw order (write?, entry, the workload's own) keeps seeded runs replayable
    const wantWrite = this.o.random.next() < this.o.writes;
    const entry = this.entryFor(u.home);
    const action = { cur: this.requestFor(u, wantWrite) };
    const t0 = this.o.clock.wallTime();
    const s: Sample = { t0, affected: u.home === this.o.zone, write: action.cur.write, ok: false, kind: '', entry };
    this.inflight++;
    void this.act(entry, action)
      .then(({ status, headers, text }) =>
        recordAnswer(s, status, headers, text, action.cur.answered?.(status, text) === true),
      )
      .catch((e: { code?: string }) => {
        action.cur.done?.(0, '');
        recordNoAnswer(s, e);
        // like the SDK: an address that refuses or drops connections is avoided for a while;
        // a slow answer is not a reason to leave the zone
        if (s.kind.startsWith('connect')) this.avoid.set(entry, this.o.clock.wallTime() + 2000);
      })
      .finally(() => this.settle(s));
  }

  /**
   * One user action: the request, and what its answer asks for next (the accounts client logs in
   * again when its session's zone is gone, and retries the write once). `action.cur` is the
   * request in flight, so a failure reaches the right one.
   */
  private async act(entry: string, action: { cur: WorkloadRequest }): Promise<Answer> {
    for (let step = 0; ; step++) {
      const { cur } = action;
      const r = await request(`${this.plan.routers.get(entry)}${cur.path}`, {
        method: cur.method,
        headers: cur.headers,
        ...(cur.body === undefined ? {} : { body: cur.body }),
        dispatcher: this.plan.control.dispatcher,
      });
      const text = await r.body.text();
      const next = cur.done?.(r.statusCode, text, String(r.headers[HEADERS.servedBy] ?? r.headers[HEADERS.zone] ?? ''));
      if (!next || step >= 2) return { status: r.statusCode, headers: r.headers, text };
      action.cur = next;
    }
  }

  private settle(s: Sample): void {
    this.inflight--;
    this.samples.push(s);
    if (s.ok) this.counts.ok++;
    else {
      this.counts.failed++;
      if (s.affected && this.faultSent) this.counts.affectedFailed++;
    }
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A 2xx/3xx (or an answer the app gives by design) is ok and says who served it; anything else is `http <status> <code>`. */
function recordAnswer(s: Sample, status: number, headers: Answer['headers'], text: string, byDesign = false): void {
  if (status < 400 || byDesign) {
    s.ok = true;
    s.kind = 'ok';
    // the echo app names itself; any other app is named by the router that served it locally
    s.servedBy = String(headers[HEADERS.servedBy] ?? headers[HEADERS.zone] ?? '');
    s.shard = Number(headers[HEADERS.shard]);
    s.epoch = Number(headers[HEADERS.epoch]);
    s.servedAt = Number(headers[HEADERS.servedAt]);
    return;
  }
  let code = '';
  let hop = '';
  try {
    const body = JSON.parse(text) as { error?: string; code?: string; zone?: unknown; upstream?: unknown };
    // multizone's answers say `error`; an app may say `code`
    code = body.error ?? body.code ?? '';
    // a router that could not reach the next hop says which: the report then tells a dead
    // zone's app from a slow forward
    if (typeof body.zone === 'string' && typeof body.upstream === 'string') hop = ` (${body.zone} → ${body.upstream})`;
  } catch {}
  // a 502/503 is the owner's trouble, not the entry's: the client keeps its entry zone
  s.kind = `http ${status}${code ? ` ${code}` : ''}${hop}`;
}

/** No answer: a timeout waiting for one, or a connection refused, reset or not made in time. */
function recordNoAnswer(s: Sample, e: { code?: string }): void {
  const code = e.code ?? 'error';
  s.kind = /TIMEOUT/.test(code) && code !== 'UND_ERR_CONNECT_TIMEOUT' ? `timeout ${code}` : `connect ${code}`;
}
