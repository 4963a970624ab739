import { Agent, request } from 'undici';
import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import { type AuditEntry, failoverErrors } from '../failover/index.ts';
import { HEADERS, shardForKey } from '../shardmap/index.ts';
import {
  type AccountsUser,
  AccountsWorkload,
  type AckedWrite,
  type ReadBack,
  type WorkloadRequest,
} from './accounts-workload.ts';
import { drillErrors } from './errors.ts';

/** What to drill. */
export interface DrillOptions {
  /** Control API base URL, e.g. http://127.0.0.1:7070. */
  control: string;
  zone: string;
  mode: 'kill' | 'partition';
  /** Requests per second across all users. */
  rps: number;
  /** Seconds of traffic in all (a quarter before the fault). */
  durationS: number;
  /** Which failover flavour the traffic exercises: fenced (profiles) or available (orders). */
  consistency: 'fenced' | 'available';
  /** Share of writes in the traffic, 0..1 (echo: POST; accounts: profile PUTs and comments). */
  writes: number;
  /** Users (default: 2000 on the echo app, 200 on the accounts app, which registers and logs each in first). */
  users?: number;
  /** Accounts app: how long the read-back waits for every acknowledged write to show up in every zone (ms). */
  readBackTimeoutMs?: number;
  /** Accounts app: called for every write the drill gets a 2xx for (tests compare it with the store). */
  onAck?(w: AckedWrite): void;
  /** Restore the zone (and fail back) when the traffic ends. */
  restore: boolean;
  failback: boolean;
  clock: Clock;
  random: Random;
  onProgress?(p: DrillProgress): void;
}

export interface DrillProgress {
  elapsedS: number;
  durationS: number;
  phase: 'setup' | 'warmup' | 'fault' | 'draining' | 'read-back';
  ok: number;
  failed: number;
  affectedFailed: number;
}

interface Sample {
  /** Wall ms the request was sent; made relative to the fault at the end. */
  t0: number;
  affected: boolean;
  write: boolean;
  ok: boolean;
  kind: string;
  servedBy?: string;
  shard?: number;
  epoch?: number;
  servedAt?: number;
  entry: string;
}

/** The drill's result (printed as a table, or as JSON with --json). */
export interface DrillReport {
  /** The app the cluster runs (from GET /api/topology): `echo`, or `accounts` (registered users, real replicated writes). */
  workload: 'echo' | 'accounts';
  zone: string;
  mode: 'kill' | 'partition';
  consistency: 'fenced' | 'available';
  path: string;
  rps: number;
  durationS: number;
  users: { total: number; affected: number };
  requests: { total: number; ok: number; failed: number; affected: number; affectedOk: number };
  /**
   * Share of requests sent more than 2 s (the client timeout) before the fault that succeeded;
   * a low one means the cluster or the machine was overloaded and the RTO is unreliable.
   */
  baseline: number;
  /** ms from the fault to the first 1 s window in which ≥ 99 % of affected users' requests succeed. */
  rtoMs: number | null;
  goal: { rtoMs: number; met: boolean; misroutedWrites: number };
  leaseMs: number;
  errors: Record<string, number>;
  /** Writes served by a zone that did not own the shard at that epoch, or at an epoch already superseded. */
  misrouted: { writes: number; unverifiable: number };
  /** Shards of the zone that moved during the drill, and to where. */
  moved: Record<string, number>;
  perSecond: {
    second: number;
    affected: number;
    affectedOk: number;
    total: number;
    ok: number;
    errors: Record<string, number>;
  }[];
  rpo: string;
  wrt: string;
  /**
   * Acknowledged writes neither applied nor locked after the zone returned (must be 0): on the
   * accounts app the drill's own read-back of every write it got a 2xx for, from every zone's
   * store; otherwise the data plane's count for the RPO snapshot.
   */
  lost: number | null;
  /** What the data plane measured at restore (RPO snapshot at the fault, WRT, fates of its writes). */
  data?: RestoreData;
  /** Accounts app: the drill's read-back of every acknowledged write in every zone. */
  readBack?: ReadBack;
  /** Accounts app: logins again because a write's session lived in a zone that was gone (then the write was retried once). */
  relogins?: number;
  /** Accounts app: registrations, logins and first writes of the setup retried after a 5xx. */
  setupRetries?: number;
  restore?: { restored: boolean; failback?: { moved?: number; tookMs?: number; error?: string } };
}

const NA = 'n/a (no data plane in the cluster, or the zone was not restored)';

/** What /api/drill/restore reports when the data plane runs. */
export interface RestoreData {
  /** Acknowledged writes of the zone no other zone (or not every one) had applied at the fault, and their time span. */
  rpo: { count: number; windowMs: number };
  wrtMs: number | null;
  applied: number;
  locked: number;
  pending: number;
  lost: number;
}

async function getJson<T>(dispatcher: Agent, url: string, method: 'GET' | 'POST' = 'GET', body?: unknown): Promise<T> {
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, { method, dispatcher, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw drillErrors.ERR_FAILOVER_DRILL(`drill: cannot reach ${url}: ${(e as Error).message}`, { cause: e });
  }
  const j = (await r.body.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (r.statusCode >= 400)
    throw drillErrors.ERR_FAILOVER_DRILL(
      `drill: ${method} ${url} → ${r.statusCode} ${j.error ?? ''} ${j.message ?? ''}`,
    );
  return j;
}

/**
 * Drives traffic for many users through the zones' routers (each user enters at its home
 * zone, like steering would send it, and moves to another zone when its entry is refused or
 * declared down), faults one zone, and measures RTO, errors by kind and misrouted requests.
 */
export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const { clock, random } = o;
  const dispatcher = new Agent({
    connections: 128,
    headersTimeout: 2000,
    bodyTimeout: 2000,
    connect: { timeout: 1000 },
  });
  const base = o.control.replace(/\/$/, '');
  try {
    const eps = await getJson<{ endpoints: { zone: string | null; role: string; host: string; port: number }[] }>(
      dispatcher,
      `${base}/api/endpoints`,
    );
    const routers = new Map<string, string>();
    for (const e of eps.endpoints) if (e.role === 'router' && e.zone) routers.set(e.zone, `http://${e.host}:${e.port}`);
    if (!routers.has(o.zone)) throw failoverErrors.ERR_FAILOVER_UNKNOWN_ZONE(`drill: no router for zone "${o.zone}"`);
    const apps = new Map<string, string>();
    for (const e of eps.endpoints) if (e.role === 'app' && e.zone) apps.set(e.zone, `http://${e.host}:${e.port}`);
    const zones = [...routers.keys()];
    const topo = await getJson<{ app?: string }>(dispatcher, `${base}/api/topology`);
    const workload: DrillReport['workload'] = topo.app === 'accounts' ? 'accounts' : 'echo';
    type Snap = {
      count: number;
      shards: { shard: number; zone: string; epoch: number }[];
      states: Record<string, { state: string }>;
      config: { leaseMs: number };
    };
    const snap = await getJson<Snap>(dispatcher, `${base}/api/shardmap`);
    const auditBefore = await getJson<{ entries: AuditEntry[] }>(dispatcher, `${base}/api/audit?limit=1`);
    const lastSeq = auditBefore.entries.at(-1)?.seq ?? 0;
    const path =
      workload === 'accounts'
        ? '/api/profiles, /api/comments'
        : o.consistency === 'available'
          ? '/api/orders'
          : '/api/profiles';

    // users and their home zones; the accounts app's users register, log in and write their profile first
    let accounts: AccountsWorkload | undefined;
    let users: { id: string; shard: number; home: string }[];
    if (workload === 'accounts') {
      accounts = new AccountsWorkload({
        dispatcher,
        clock,
        random,
        routers,
        shardCount: snap.count,
        ownerOf: (shard) => snap.shards[shard]!.zone,
        ...(o.onAck ? { onAck: o.onAck } : {}),
      });
      o.onProgress?.({ elapsedS: 0, durationS: o.durationS, phase: 'setup', ok: 0, failed: 0, affectedFailed: 0 });
      await accounts.setup(o.users ?? 200);
      users = accounts.users;
    } else
      users = Array.from({ length: o.users ?? 2000 }, (_, i) => {
        const id = `drill-${random.seed}-${i}`;
        const shard = shardForKey(id, snap.count);
        return { id, shard, home: snap.shards[shard]!.zone };
      });
    const affectedUsers = users.filter((u) => u.home === o.zone).length;

    const start = clock.wallTime();
    const faultAt = Math.max(2, o.durationS / 4) * 1000;
    let killAt = Number.POSITIVE_INFINITY;
    const samples: Sample[] = [];
    const avoid = new Map<string, number>(); // entry zone → wall ms until which clients avoid it
    let declaredDown = new Set<string>();
    let inflight = 0;
    let ok = 0;
    let failed = 0;
    let affectedFailed = 0;

    const entryFor = (home: string) => {
      const now = clock.wallTime();
      const usable = (z: string) => !declaredDown.has(z) && (avoid.get(z) ?? 0) <= now;
      if (usable(home)) return home;
      let rest = zones.filter((z) => z !== home && usable(z));
      // everything refused lately (a stall): any zone steering has not declared down
      if (!rest.length) rest = zones.filter((z) => z !== home && !declaredDown.has(z));
      return rest.length ? rest[random.int(rest.length)]! : home;
    };

    const fire = (u: (typeof users)[number]) => {
      const wantWrite = random.next() < o.writes;
      const entry = entryFor(u.home);
      const req: WorkloadRequest = accounts
        ? accounts.next(u as AccountsUser, wantWrite)
        : {
            method: wantWrite ? 'POST' : 'GET',
            path: `${path}/${u.id}`,
            headers: { 'x-user-id': u.id },
            write: wantWrite,
          };
      const { write } = req;
      const t0 = clock.wallTime();
      const s: Sample = { t0, affected: u.home === o.zone, write, ok: false, kind: '', entry };
      inflight++;
      let cur = req;
      // one user action: the request, and what its answer asks for next (the accounts client
      // logs in again when its session's zone is gone, and retries the write once)
      const act = async () => {
        for (let step = 0; ; step++) {
          const r = await request(`${routers.get(entry)}${cur.path}`, {
            method: cur.method,
            headers: cur.headers,
            ...(cur.body === undefined ? {} : { body: cur.body }),
            dispatcher,
          });
          const text = await r.body.text();
          const next = cur.done?.(r.statusCode, text);
          if (!next || step >= 2) return { r, text };
          cur = next;
        }
      };
      void act()
        .then(({ r, text }) => {
          if (r.statusCode < 400) {
            s.ok = true;
            s.kind = 'ok';
            // the echo app names itself; any other app is named by the router that served it locally
            s.servedBy = String(r.headers[HEADERS.servedBy] ?? r.headers[HEADERS.zone] ?? '');
            s.shard = Number(r.headers[HEADERS.shard]);
            s.epoch = Number(r.headers[HEADERS.epoch]);
            s.servedAt = Number(r.headers[HEADERS.servedAt]);
          } else {
            let code = '';
            try {
              code = (JSON.parse(text) as { error?: string }).error ?? '';
            } catch {}
            // a 502/503 is the owner's trouble, not the entry's: the client keeps its entry zone
            s.kind = `http ${r.statusCode}${code ? ` ${code}` : ''}`;
          }
        })
        .catch((e: { code?: string }) => {
          cur.done?.(0, '');
          const code = e.code ?? 'error';
          s.kind = /TIMEOUT/.test(code) && code !== 'UND_ERR_CONNECT_TIMEOUT' ? `timeout ${code}` : `connect ${code}`;
          // like the SDK: an address that refuses or drops connections is avoided for a while;
          // a slow answer is not a reason to leave the zone
          if (s.kind.startsWith('connect')) avoid.set(entry, clock.wallTime() + 2000);
        })
        .finally(() => {
          inflight--;
          samples.push(s);
          if (s.ok) ok++;
          else {
            failed++;
            if (s.affected && faultSent) affectedFailed++;
          }
        });
    };

    // steering: zones the controller has declared down get no new users
    const steer = clock.setInterval(250, () => {
      void getJson<Snap>(dispatcher, `${base}/api/shardmap?shards=0`)
        .then((s) => {
          declaredDown = new Set(
            Object.entries(s.states)
              .filter(([, v]) => v.state === 'failing' || v.state === 'failed')
              .map(([k]) => k),
          );
        })
        .catch(() => {});
    });

    const tickMs = 20;
    let carry = 0;
    let faultSent = false;
    let done = false;
    const progress = clock.setInterval(250, () =>
      o.onProgress?.({
        elapsedS: (clock.wallTime() - start) / 1000,
        durationS: o.durationS,
        phase: faultSent ? 'fault' : 'warmup',
        ok,
        failed,
        affectedFailed,
      }),
    );
    await new Promise<void>((resolve, reject) => {
      const t = clock.setInterval(tickMs, () => {
        if (done) return;
        const elapsed = clock.wallTime() - start;
        if (elapsed >= o.durationS * 1000) {
          done = true;
          t.cancel();
          resolve();
          return;
        }
        if (!faultSent && elapsed >= faultAt) {
          faultSent = true;
          killAt = clock.wallTime();
          getJson(dispatcher, `${base}/api/drill/kill`, 'POST', { zone: o.zone, mode: o.mode }).catch((e) => {
            done = true;
            t.cancel();
            reject(e);
          });
        }
        // ramp up over the first 2 s, as real traffic would, instead of a cold-start burst
        carry += (o.rps * Math.min(1, elapsed / 2000) * tickMs) / 1000;
        while (carry >= 1) {
          carry--;
          if (inflight >= 512) {
            samples.push({
              t0: clock.wallTime(),
              affected: false,
              write: false,
              ok: false,
              kind: 'client-overload',
              entry: '',
            });
            failed++;
            continue;
          }
          fire(users[random.int(users.length)]!);
        }
      });
    });
    for (let i = 0; i < 100 && inflight > 0; i++) await clock.sleep(50);
    progress.cancel();
    steer.cancel();
    for (const s of samples) s.t0 -= killAt;
    o.onProgress?.({ elapsedS: o.durationS, durationS: o.durationS, phase: 'draining', ok, failed, affectedFailed });

    // history of owners: the start snapshot, then every move since
    const audit = await getJson<{ entries: AuditEntry[] }>(dispatcher, `${base}/api/audit?limit=10000`);
    const epochs = new Map<number, Map<number, { zone: string; at: number; notBefore: number }>>();
    for (const s of snap.shards) epochs.set(s.shard, new Map([[s.epoch, { zone: s.zone, at: 0, notBefore: 0 }]]));
    const moved: Record<string, number> = {};
    for (const e of audit.entries) {
      if (e.seq <= lastSeq || e.action !== 'move' || !e.shards || !e.to) continue;
      for (const [shard, epoch] of e.shards) {
        if (shard === 'global') continue;
        epochs.get(shard)?.set(epoch, { zone: e.to, at: e.at, notBefore: e.notBefore ?? 0 });
        if (e.from === o.zone) moved[e.to] = (moved[e.to] ?? 0) + 1;
      }
    }
    const misrouted = { writes: 0, unverifiable: 0 };
    // reads of replicated data may be served by any zone (replica reads): only writes are checked
    for (const s of samples) {
      if (!s.ok || !s.write || s.shard === undefined || !Number.isInteger(s.shard)) continue;
      const h = epochs.get(s.shard);
      const own = h?.get(s.epoch ?? -1);
      if (!h || !own) {
        misrouted.unverifiable++;
        continue;
      }
      let bad = own.zone !== s.servedBy;
      // a write at epoch e after a newer epoch had become writable is a second writer
      if (!bad)
        for (const [epoch, later] of h)
          if (
            epoch > (s.epoch ?? 0) &&
            (s.servedAt ?? 0) >= Math.max(later.at, o.consistency === 'fenced' ? later.notBefore : 0)
          )
            bad = true;
      if (bad) misrouted.writes++;
    }
    const errors: Record<string, number> = {};
    for (const s of samples) if (!s.ok) errors[s.kind] = (errors[s.kind] ?? 0) + 1;

    const aff = samples.filter((s) => s.affected && s.t0 >= 0).sort((a, b) => a.t0 - b.t0);
    const firstFail = aff.find((s) => !s.ok);
    let rtoMs: number | null = firstFail ? null : 0;
    if (firstFail) {
      const last = aff.at(-1)?.t0 ?? 0;
      for (let t = 0; t + 1000 <= last + 1; t += 100) {
        let n = 0;
        let good = 0;
        for (const s of aff) {
          if (s.t0 < t) continue;
          if (s.t0 >= t + 1000) break;
          n++;
          if (s.ok) good++;
        }
        if (t >= firstFail.t0 - 1000 && n > 0 && good / n >= 0.99) {
          rtoMs = t;
          break;
        }
      }
    }
    const perSecond: DrillReport['perSecond'] = [];
    for (const s of samples) {
      const sec = Math.floor(s.t0 / 1000);
      if (!Number.isFinite(sec)) continue;
      let row = perSecond.find((r) => r.second === sec);
      if (!row) {
        row = { second: sec, affected: 0, affectedOk: 0, total: 0, ok: 0, errors: {} };
        perSecond.push(row);
      }
      row.total++;
      if (s.ok) row.ok++;
      else row.errors[s.kind] = (row.errors[s.kind] ?? 0) + 1;
      if (s.affected) {
        row.affected++;
        if (s.ok) row.affectedOk++;
      }
    }
    perSecond.sort((a, b) => a.second - b.second);

    const leaseMs = snap.config.leaseMs;
    const goalRto = o.consistency === 'fenced' ? leaseMs + 2000 : 2000;
    const report: DrillReport = {
      workload,
      zone: o.zone,
      mode: o.mode,
      consistency: o.consistency,
      path,
      rps: o.rps,
      durationS: o.durationS,
      users: { total: users.length, affected: affectedUsers },
      requests: {
        total: samples.length,
        ok,
        failed,
        affected: samples.filter((s) => s.affected).length,
        affectedOk: samples.filter((s) => s.affected && s.ok).length,
      },
      baseline: (() => {
        // requests sent within the client timeout (2 s) of the fault may fail because of it
        const before = samples.filter((s) => s.t0 < -2000);
        return before.length ? before.filter((s) => s.ok).length / before.length : 1;
      })(),
      rtoMs,
      goal: {
        rtoMs: goalRto,
        met: rtoMs !== null && rtoMs <= goalRto && (o.consistency !== 'fenced' || misrouted.writes === 0),
        misroutedWrites: misrouted.writes,
      },
      leaseMs,
      errors,
      misrouted,
      moved,
      perSecond,
      rpo: NA,
      wrt: NA,
      lost: null,
      ...(accounts ? { relogins: accounts.relogins, setupRetries: accounts.setupRetries } : {}),
    };
    if (o.restore) {
      report.restore = { restored: false };
      const back = await getJson<{ data?: RestoreData }>(dispatcher, `${base}/api/drill/restore`, 'POST', {
        zone: o.zone,
      });
      report.restore.restored = true;
      if (back.data) {
        const d = back.data;
        report.data = d;
        report.rpo = `${d.rpo.count} acknowledged writes unshipped, ${Math.round(d.rpo.windowMs)} ms window`;
        report.wrt =
          d.wrtMs === null
            ? `not repaired within 60 s (${d.pending} pending)`
            : `${Math.round(d.wrtMs)} ms (${d.applied} applied, ${d.locked} locked as conflicts)`;
        report.lost = d.lost;
      }
      if (accounts) {
        // trust no counter: look for every write we got a 2xx for in every zone's own store
        o.onProgress?.({
          elapsedS: o.durationS,
          durationS: o.durationS,
          phase: 'read-back',
          ok,
          failed,
          affectedFailed,
        });
        report.readBack = await accounts.readBack(apps, o.readBackTimeoutMs ?? 60_000);
        report.lost = report.readBack.missing;
        report.goal.met &&= report.lost === 0;
      }
      if (o.failback) {
        // the controller must see the zone up again before it gives shards back
        for (let i = 0; i < 100; i++) {
          const s = await getJson<Snap>(dispatcher, `${base}/api/shardmap?shards=0`);
          if (s.states[o.zone]?.state === 'recovered' || s.states[o.zone]?.state === 'healthy') break;
          await clock.sleep(100);
        }
        try {
          report.restore.failback = await getJson(dispatcher, `${base}/api/failback`, 'POST', { zone: o.zone });
        } catch (e) {
          report.restore.failback = { error: (e as Error).message };
        }
      }
    }
    return report;
  } finally {
    await dispatcher.close().catch(() => {});
  }
}
