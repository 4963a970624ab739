import { type Agent, request } from 'undici';
import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { shardForKey } from '../shardmap/index.ts';
import { descendsFrom, storeErrors } from '../store/index.ts';
import { drillErrors } from './errors.ts';

/** Zone → writes that zone made to a record (the store's version vector). */
type Vv = Readonly<Record<string, number>>;

/** One write the drill got a 2xx for (what the read-back must find in every zone). */
export interface AckedWrite {
  resource: 'profiles' | 'comments';
  /** The profile's user id (comments live under the profile they are on). */
  key: string;
  /** The zone that answered (the app's `zone`). */
  zone: string;
  /** Wall ms the answer arrived. */
  at: number;
  /** Profiles: the version vector the write produced. */
  vv?: Vv;
  /** Comments: the causal id the write got. */
  id?: { n: number; zone: string };
}

/** A drill user of the accounts app: registered, logged in, writing its own profile. */
export interface AccountsUser {
  id: string;
  shard: number;
  home: string;
  phone: string;
  session: string | undefined;
  /** A write or login of this user is in flight (a real client waits for its answer). */
  busy: boolean;
  n: number;
}

/** What a workload sends its traffic with: every workload's constructor takes these. */
export interface WorkloadDeps {
  dispatcher: Agent;
  clock: Clock;
  random: Random;
  /** Router base URL per zone. */
  routers: Map<string, string>;
  /** Owner zone of a shard at the start. */
  ownerOf(shard: number): string;
}

/** One request the drill sends, and what to do with the answer (status 0: no answer). */
export interface WorkloadRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** A write of replicated data (checked for misrouting and read back); logins are not. */
  write: boolean;
  /** An answer ≥ 400 the app gives by design (a dish sold out, a stale version): the request counts as served. */
  answered?(status: number, text: string): boolean;
  /** Called with the answer (and the zone that served it); may return the request the client sends next in the same action. */
  done?(status: number, text: string, servedBy?: string): WorkloadRequest | undefined;
}

/** What the read-back found, per acknowledged write, across every zone's app. */
export interface ReadBack {
  /** Acknowledged writes checked (profiles + comments). */
  acknowledged: number;
  profiles: number;
  comments: number;
  zones: string[];
  /** In every zone, the record descends from the write (or holds the comment). */
  applied: number;
  /** Held as a candidate of a locked record in some zone (a conflict to resolve), applied in the rest. */
  locked: number;
  /** Missing in at least one zone when the read-back gave up: lost writes. */
  missing: number;
  /** ms from the start of the read-back until every write was found (or it gave up). */
  tookMs: number;
  rounds: number;
  /** Up to 10 missing writes, for people. */
  examples: { resource: string; key: string; zone: string; missingIn: string[] }[];
}

interface ProfileView {
  vv?: Vv;
  locked?: boolean;
  candidates?: { vv: Vv }[];
}

async function call(
  dispatcher: Agent,
  url: string,
  method: 'GET' | 'POST' | 'PUT',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, {
      method,
      dispatcher,
      // setup and read-back are not the measured traffic: password hashing may queue, so wait
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw drillErrors.ERR_FAILOVER_DRILL(`drill: ${method} ${url}: ${(e as Error).message}`, { cause: e });
  }
  const text = await r.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {}
  return { status: r.statusCode, json };
}

/** How long a setup call answered 5xx is tried again before the drill gives up (ms). */
const SETUP_RETRY_MS = 60_000;

/** Runs fn over items with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/**
 * The drill's workload on the accounts reference app (`multizone up --app accounts`): users
 * register (a global write, forwarded to the core zone), log in at their home zone (a local
 * session), then write their profile (`PUT /api/profiles/<id>`, sharded) and sometimes a
 * comment on it, and read it back (`GET`, served by any zone's replica). Every write it gets
 * a 2xx for goes into a ledger that `readBack` looks for in every zone's store afterwards.
 */
export class AccountsWorkload {
  readonly users: AccountsUser[] = [];
  readonly ledger: AckedWrite[] = [];
  /** Logins again after a write found its session gone (sessions are local: their zone died). */
  relogins = 0;
  /** Setup calls retried after a 5xx. */
  setupRetries = 0;
  /** Users left out at setup: their profile is locked by an open conflict (an earlier drill's). */
  skippedLocked = 0;
  private readonly password: string;

  constructor(
    private readonly o: WorkloadDeps & {
      shardCount: number;
      /** Share of writes that are comments instead of profile updates. */
      comments?: number;
      onAck?(w: AckedWrite): void;
    },
  ) {
    this.password = `drill-${o.random.seed}`;
  }

  /**
   * Registers `count` users through the routers (the core zone writes accounts; a phone
   * already taken from an earlier run with the same seed just logs in), logs each in at
   * its home zone and writes its profile once.
   */
  async setup(count: number): Promise<void> {
    const { dispatcher, routers, random } = this.o;
    const zones = [...routers.keys()];
    const tag = String(random.seed % 1_000_000).padStart(6, '0');
    const idx = Array.from({ length: count }, (_, i) => i);
    const fail = (what: string, r: { status: number; json: Record<string, unknown> }) =>
      drillErrors.ERR_FAILOVER_DRILL(
        `drill: accounts workload: ${what} → ${r.status} ${String(r.json.error ?? '')} ${String(r.json.message ?? '')}`,
      );
    // a setup call answered 5xx (a store busy for a moment, a busy host's router timing out a
    // password hash) is retried with backoff, as a client would, for SETUP_RETRY_MS: setup comes
    // before the fault, so waiting costs the drill nothing but time (a CI run on a loaded host
    // saw the core zone's router time out registrations for more than 10 s)
    const again = async (f: () => Promise<{ status: number; json: Record<string, unknown> }>) => {
      const until = this.o.clock.now() + SETUP_RETRY_MS;
      for (let k = 0; ; k++) {
        const r = await f();
        if (r.status < 500 || this.o.clock.now() >= until) return r;
        this.setupRetries++;
        await this.o.clock.sleep(Math.min(250 * (k + 1), 2000));
      }
    };
    const users: (AccountsUser | undefined)[] = new Array(count);
    await pool(idx, 4, async (i) => {
      const phone = `+861${tag}${String(i).padStart(5, '0')}`;
      const entry = routers.get(zones[i % zones.length]!)!;
      const reg = await again(() =>
        call(dispatcher, `${entry}/api/register`, 'POST', { phone, password: this.password, name: `drill ${i}` }),
      );
      if (reg.status !== 201 && !(reg.status === 409 && reg.json.error === 'ERR_ACCOUNTS_PHONE_TAKEN'))
        throw fail(`POST /api/register`, reg);
      // log in at the zone that owns the user's shard, as steering would send the user there
      let login: Awaited<ReturnType<typeof call>> | undefined;
      if (reg.status === 409) {
        login = await again(() => call(dispatcher, `${entry}/api/login`, 'POST', { phone, password: this.password }));
        if (login.status !== 200) throw fail('POST /api/login', login);
      }
      const id = String((login ?? reg).json.userId);
      const shard = shardForKey(id, this.o.shardCount);
      const home = this.o.ownerOf(shard);
      if (!login || home !== zones[i % zones.length]) {
        login = await again(() =>
          call(dispatcher, `${routers.get(home)}/api/login`, 'POST', { phone, password: this.password }),
        );
        if (login.status !== 200) throw fail(`POST /api/login (${home})`, login);
      }
      const u: AccountsUser = { id, shard, home, phone, session: String(login.json.session), busy: false, n: 0 };
      const r = await again(async () => {
        const first = this.profileWrite(u);
        const a = await call(
          dispatcher,
          `${routers.get(home)}${first.path}`,
          'PUT',
          JSON.parse(first.body!),
          first.headers,
        );
        first.done?.(a.status, JSON.stringify(a.json));
        return a;
      });
      // a profile still locked by an earlier drill's conflict cannot take writes until resolved:
      // leave that user out (counted) rather than fail the drill over old business
      if (r.status === 409 && r.json.error === storeErrors.ERR_STORE_LOCKED.code) {
        this.skippedLocked++;
        return;
      }
      if (r.status !== 200) throw fail(`PUT /api/profiles/${id}`, r);
      users[i] = u;
    });
    this.users.push(...users.filter((u): u is AccountsUser => u !== undefined));
    if (this.users.length === 0)
      throw drillErrors.ERR_FAILOVER_DRILL(
        'drill: accounts workload: every user is locked by an open conflict (multizone conflicts)',
      );
  }

  private ack(w: AckedWrite): void {
    this.ledger.push(w);
    this.o.onAck?.(w);
  }

  private profileWrite(u: AccountsUser): WorkloadRequest {
    u.busy = true;
    const n = ++u.n;
    return {
      method: 'PUT',
      path: `/api/profiles/${encodeURIComponent(u.id)}`,
      headers: { 'content-type': 'application/json', 'x-user-id': u.id, 'x-session-id': u.session ?? '' },
      body: JSON.stringify({ name: `drill user ${u.phone}`, drill: this.o.random.seed, n }),
      write: true,
      done: (status, text) => {
        u.busy = false;
        const j = parse(text);
        if (status >= 200 && status < 300)
          this.ack({
            resource: 'profiles',
            key: u.id,
            zone: String(j.zone ?? ''),
            at: this.o.clock.wallTime(),
            vv: (j.vv ?? {}) as Vv,
          });
        else if (status === 401) return this.relogin(u, () => this.profileWrite(u));
        return undefined;
      },
    };
  }

  /**
   * The session's zone is gone (sessions are local and regenerable): log in again where the
   * user is now, then send `retry` once, as an app with stored credentials would.
   */
  private relogin(u: AccountsUser, retry: () => WorkloadRequest): WorkloadRequest {
    u.session = undefined;
    this.relogins++;
    const login = this.login(u);
    return {
      ...login,
      done: (status, text) => {
        login.done?.(status, text);
        return u.session ? retry() : undefined;
      },
    };
  }

  private login(u: AccountsUser): WorkloadRequest {
    u.busy = true;
    return {
      method: 'POST',
      path: '/api/login',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: u.phone, password: this.password }),
      write: false,
      done: (status, text) => {
        u.busy = false;
        const j = parse(text);
        if (status === 200 && typeof j.session === 'string') u.session = j.session;
        return undefined;
      },
    };
  }

  private comment(u: AccountsUser): WorkloadRequest {
    u.busy = true;
    return {
      method: 'POST',
      path: `/api/comments/${encodeURIComponent(u.id)}`,
      headers: { 'content-type': 'application/json', 'x-user-id': u.id, 'x-session-id': u.session ?? '' },
      body: JSON.stringify({ text: `drill ${this.o.random.seed} comment ${++u.n}` }),
      write: true,
      done: (status, text) => {
        u.busy = false;
        const j = parse(text);
        const id = j.id as { n?: unknown; zone?: unknown } | undefined;
        if (status >= 200 && status < 300 && typeof id?.n === 'number' && typeof id.zone === 'string')
          this.ack({
            resource: 'comments',
            key: u.id,
            zone: id.zone,
            at: this.o.clock.wallTime(),
            id: { n: id.n, zone: id.zone },
          });
        else if (status === 401) return this.relogin(u, () => this.comment(u));
        return undefined;
      },
    };
  }

  /** The user's next request: a profile write (sometimes a comment), a login when it has no session, or a read. */
  next(u: AccountsUser, wantWrite: boolean): WorkloadRequest {
    if (wantWrite && !u.busy) {
      if (!u.session) return this.login(u);
      return this.o.random.next() < (this.o.comments ?? 0.1) ? this.comment(u) : this.profileWrite(u);
    }
    return {
      method: 'GET',
      path: `/api/profiles/${encodeURIComponent(u.id)}`,
      headers: { 'x-user-id': u.id },
      write: false,
    };
  }

  /**
   * Reads every acknowledged write back from every zone's app (its own store, no router, no
   * second read) until each is applied or held in a locked record everywhere, or `timeoutMs`
   * passes; what is still missing then is lost.
   */
  async readBack(apps: Map<string, string>, timeoutMs: number): Promise<ReadBack> {
    const started = this.o.clock.now();
    const { fate, rounds } = await this.locate(this.ledger, apps, timeoutMs);
    const zones = [...apps.keys()];
    const out: ReadBack = {
      acknowledged: this.ledger.length,
      profiles: this.ledger.filter((w) => w.resource === 'profiles').length,
      comments: this.ledger.filter((w) => w.resource === 'comments').length,
      zones,
      applied: 0,
      locked: 0,
      missing: 0,
      tookMs: Math.round(this.o.clock.now() - started),
      rounds,
      examples: [],
    };
    for (const w of this.ledger) {
      const f = fate.get(w)!;
      if (f.size < zones.length) {
        out.missing++;
        if (out.examples.length < 10)
          out.examples.push({
            resource: w.resource,
            key: w.key,
            zone: w.zone,
            missingIn: zones.filter((z) => !f.has(z)),
          });
      } else if ([...f.values()].includes('locked')) out.locked++;
      else out.applied++;
    }
    return out;
  }

  /**
   * The zone's acknowledged writes that the other zones' stores do not all hold now (one look,
   * no waiting): what the survivors took over without. `cutAt`: wall ms of the fault.
   */
  async unshipped(
    apps: Map<string, string>,
    zone: string,
    cutAt: number,
  ): Promise<{ count: number; afterCut: number; windowMs: number }> {
    const survivors = new Map([...apps].filter(([z]) => z !== zone));
    const mine = this.ledger.filter((w) => w.zone === zone);
    const { fate } = await this.locate(mine, survivors, 0);
    const missing = mine.filter((w) => fate.get(w)!.size < survivors.size);
    const ats = missing.map((w) => w.at);
    return {
      count: missing.length,
      afterCut: missing.filter((w) => w.at >= cutAt).length,
      windowMs: ats.length ? Math.max(...ats) - Math.min(...ats) : 0,
    };
  }

  /**
   * Looks for `writes` in every zone's app (its own store, no router, no second read), again
   * every 250 ms until each is applied or held in a locked record everywhere or `timeoutMs`
   * passes (0: one look). Per write: the zones that hold it, and how.
   */
  private async locate(
    writes: readonly AckedWrite[],
    apps: Map<string, string>,
    timeoutMs: number,
  ): Promise<{ fate: Map<AckedWrite, Map<string, 'applied' | 'locked'>>; rounds: number }> {
    const { dispatcher, clock } = this.o;
    const started = clock.now();
    const byUser = new Map<string, AckedWrite[]>();
    for (const w of writes) {
      const l = byUser.get(w.key) ?? [];
      l.push(w);
      byUser.set(w.key, l);
    }
    const zones = [...apps.keys()];
    const fate = new Map<AckedWrite, Map<string, 'applied' | 'locked'>>();
    for (const w of writes) fate.set(w, new Map());
    let pending = [...byUser.keys()];
    let rounds = 0;
    for (;;) {
      rounds++;
      const jobs = pending.flatMap((user) => zones.map((zone) => ({ user, zone })));
      await pool(jobs, 16, async ({ user, zone }) => {
        const ofUser = byUser.get(user)!;
        const base = apps.get(zone)!;
        const todo = ofUser.filter((w) => !fate.get(w)!.has(zone));
        if (todo.some((w) => w.resource === 'profiles')) {
          const r = await call(dispatcher, `${base}/api/profiles/${encodeURIComponent(user)}`, 'GET').catch(() => null);
          const p = (r?.status === 200 ? r.json : {}) as ProfileView;
          for (const w of todo) {
            if (w.resource !== 'profiles' || !w.vv) continue;
            if (p.locked && p.candidates?.some((c) => descendsFrom(w.vv!, c.vv))) fate.get(w)!.set(zone, 'locked');
            else if (descendsFrom(w.vv, p.vv)) fate.get(w)!.set(zone, 'applied');
          }
        }
        if (todo.some((w) => w.resource === 'comments')) {
          const r = await call(dispatcher, `${base}/api/comments/${encodeURIComponent(user)}`, 'GET').catch(() => null);
          const list = (r?.status === 200 ? (r.json.comments as { id: { n: number; zone: string } }[]) : []) ?? [];
          const have = new Set(list.map((c) => `${c.id.n}.${c.id.zone}`));
          for (const w of todo)
            if (w.resource === 'comments' && w.id && have.has(`${w.id.n}.${w.id.zone}`))
              fate.get(w)!.set(zone, 'applied');
        }
      });
      pending = [...byUser.keys()].filter((u) => byUser.get(u)!.some((w) => fate.get(w)!.size < zones.length));
      if (pending.length === 0 || clock.now() - started >= timeoutMs) break;
      await clock.sleep(250);
    }
    return { fate, rounds };
  }
}

/** A JSON object answer's fields; anything else (not JSON, not an object) has none. */
export function parse(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
