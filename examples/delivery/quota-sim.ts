/**
 * A seeded simulation of the batch quota (quota.ts) over four zones: concurrent buyers in
 * every zone, requests and answers delayed or lost, sales reaching the other zones after a
 * replication lag, zone deaths (their unspent quota must come back), revivals with or without
 * their Redis, and the core zone's death (the backup takes the global role over from a stale
 * replica of the book). It checks the invariant after every step: sold ≤ stock.
 */
import {
  type CoreBook,
  grant,
  needsBatch,
  type QuotaPolicy,
  sellable,
  sellUntil,
  splitReturns,
  takeOver,
  trySell,
  type ZoneLease,
} from './quota.ts';

/** mulberry32: a small seeded PRNG (the example does not import multizone's). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  seed: number;
  /** Longest replication lag of a sale to another zone (ms). */
  maxLagMs: number;
  /** The policy's graceMs; safe when it exceeds maxLagMs. */
  graceMs: number;
}

export interface SimResult {
  seed: number;
  stock: number;
  sold: number;
  /** Greatest sold − stock seen at any step (≤ 0 when nothing was oversold). */
  worstOversell: number;
  grants: number;
  deaths: number;
  coreFailovers: number;
  /** Units sold after the final drain, when every zone is alive again: stock − sold left over. */
  unsoldAtEnd: number;
}

const ZONES = ['sh-a', 'sh-b', 'bj-a', 'gz-a'] as const;
type Zone = (typeof ZONES)[number];
const TICK = 20;

interface Msg {
  at: number;
  run: () => void;
}

/** Runs one seed. Time is in ms of one true clock; each zone reads it with its own offset. */
export function simulate(o: SimOptions): SimResult {
  const r = prng(o.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const stock = int(20, 400);
  const leaseMs = int(300, 1500);
  const p: QuotaPolicy = {
    batchFraction: [0.05, 0.1, 0.25, 0.5][int(0, 3)]!,
    minBatch: int(1, 5),
    lowWater: int(0, 4),
    leaseMs,
    skewMs: int(0, 50),
    graceMs: o.graceMs,
  };
  const offset: Record<Zone, number> = { 'sh-a': 0, 'sh-b': 0, 'bj-a': 0, 'gz-a': 0 };
  // zones' monotonic clocks (what a zone's sales are judged by) disagree wildly: only durations
  // matter; the book's times are the core's wall clock, which NTP keeps within ±25 ms
  const wallSkew: Record<Zone, number> = { 'sh-a': 0, 'sh-b': 0, 'bj-a': 0, 'gz-a': 0 };
  for (const z of ZONES) {
    offset[z] = int(-5000, 5000);
    wallSkew[z] = int(-25, 25);
  }
  const local = (z: Zone, t: number) => t + offset[z];
  const wall = (z: Zone, t: number) => t + wallSkew[z];

  // the core's book and its replica in the backup (sh-b), which trails it by a lag
  let core: Zone = 'sh-a';
  const books: Record<Zone, CoreBook> = {} as Record<Zone, CoreBook>;
  for (const z of ZONES) books[z] = { stock, leases: [], fenceUntil: Number.NEGATIVE_INFINITY };
  // every sale, with when it reaches each zone
  // each zone's replica of the sales: units per lease id, and those still on their way
  const known: Record<Zone, Map<string, number>> = {
    'sh-a': new Map(),
    'sh-b': new Map(),
    'bj-a': new Map(),
    'gz-a': new Map(),
  };
  let inFlight: { to: Zone; lease: string; qty: number; at: number }[] = [];
  let sold = 0;
  let worst = Number.NEGATIVE_INFINITY;
  let grants = 0;
  let deaths = 0;
  let coreFailovers = 0;

  const alive: Record<Zone, boolean> = { 'sh-a': true, 'sh-b': true, 'bj-a': true, 'gz-a': true };
  const leases: Record<Zone, ZoneLease[]> = { 'sh-a': [], 'sh-b': [], 'bj-a': [], 'gz-a': [] };
  const asking: Record<Zone, boolean> = { 'sh-a': false, 'sh-b': false, 'bj-a': false, 'gz-a': false };
  const nextAsk: Record<Zone, number> = { 'sh-a': 0, 'sh-b': 0, 'bj-a': 0, 'gz-a': 0 };
  let queue: Msg[] = [];
  let leaseSeq = 0;
  const send = (at: number, run: () => void) => {
    if (r() < 0.05) return; // lost on the way
    queue.push({ at, run });
  };

  const ask = (z: Zone, t: number) => {
    asking[z] = true;
    const sentAt = local(z, t);
    const { keep, returns } = splitReturns(leases[z], sentAt);
    leases[z] = keep;
    const to = core;
    const id = `${z}:${++leaseSeq}`;
    const failed = (retryAfterMs = 0) => {
      asking[z] = false;
      nextAsk[z] = clock + retryAfterMs;
    };
    // a request the network loses leaves the zone waiting; it asks again after a timeout
    const timeout = t + 400;
    queue.push({ at: timeout, run: () => asking[z] && failed() });
    send(t + int(1, 60), () => {
      if (!alive[to] || to !== core) return; // a dead core, or one that lost the role, answers nothing
      const res = grant(books[to], { zone: z, returns, id }, wall(to, clock), known[to], p);
      if (res.book) books[to] = res.book;
      if (!res.ok) {
        const wait = res.retryAfterMs;
        send(clock + int(1, 60), () => failed(wait));
        return;
      }
      grants++;
      books[to] = res.book;
      // the backup's replica trails: it gets this version of the book later (or never, if lost)
      const snapshot = res.book;
      send(clock + int(1, o.maxLagMs), () => replicateBook(to, snapshot));
      const lease = res.lease;
      send(clock + int(1, 60), () => {
        asking[z] = false;
        if (!alive[z]) return;
        leases[z] = [...leases[z], { id: lease.id, amount: lease.amount, used: 0, sellUntil: sellUntil(sentAt, p) }];
      });
    });
  };
  const replicaOf: Record<Zone, CoreBook | undefined> = {
    'sh-a': undefined,
    'sh-b': undefined,
    'bj-a': undefined,
    'gz-a': undefined,
  };
  const replicateBook = (from: Zone, b: CoreBook) => {
    for (const z of ZONES) if (z !== from) replicaOf[z] = b;
  };

  // the script of faults for this seed
  const end = int(2, 6) * 1000;
  const faults: Msg[] = [];
  const nDeaths = int(0, 3);
  for (let i = 0; i < nDeaths; i++) {
    const z = ZONES[int(0, 3)]!;
    const at = int(0, end - 1000);
    const back = r() < 0.7 ? at + int(200, 4000) : Number.POSITIVE_INFINITY;
    const keepsRedis = r() < 0.5;
    faults.push({
      at,
      run: () => {
        if (!alive[z]) return;
        alive[z] = false;
        deaths++;
        if (z === core) {
          // the backup takes the global role after the old core's lease is over (fenced), from its replica
          const next = ZONES.find((c) => c !== z && alive[c]);
          if (!next) return;
          const takeoverAt = clock + leaseMs;
          queue.push({
            at: takeoverAt,
            run: () => {
              if (core !== z || alive[z]) return; // back before its lease ended: no failover
              core = next;
              coreFailovers++;
              books[next] = takeOver(
                replicaOf[next] ?? { stock, leases: [], fenceUntil: 0 },
                wall(next, takeoverAt),
                p,
              );
            },
          });
        }
      },
    });
    if (back !== Number.POSITIVE_INFINITY)
      faults.push({
        at: back,
        run: () => {
          if (alive[z]) return;
          alive[z] = true;
          asking[z] = false;
          if (!keepsRedis) leases[z] = [];
        },
      });
  }
  queue.push(...faults);

  let clock = 0;
  // the buying phase, then a drain: every zone alive, buyers until the stock is gone
  const drainFrom = end;
  const stopAt = end + 4 * (leaseMs + o.graceMs) + 5000;
  for (clock = 0; clock <= stopAt; clock += TICK) {
    if (clock === drainFrom) {
      for (const z of ZONES)
        if (!alive[z])
          queue.push({
            at: clock,
            run: () => {
              alive[z] = true;
              asking[z] = false;
              leases[z] = [];
            },
          });
    }
    const due = queue.filter((m) => m.at <= clock).sort((a, b) => a.at - b.at);
    queue = queue.filter((m) => m.at > clock);
    for (const m of due) m.run();
    if (inFlight.length) {
      for (const f of inFlight) if (f.at <= clock) known[f.to].set(f.lease, (known[f.to].get(f.lease) ?? 0) + f.qty);
      inFlight = inFlight.filter((f) => f.at > clock);
    }
    for (const z of ZONES) {
      if (!alive[z]) continue;
      const now = local(z, clock);
      // about 20 % of ticks bring a buyer, sometimes two at once (they race for the same lease)
      // in the drain every tick brings a buyer of one unit, so the last units of every lease go
      const draining = clock >= drainFrom;
      const buyers = draining ? 1 : r() < 0.2 ? int(1, 2) : 0;
      for (let b = 0; b < buyers; b++) {
        const qty = draining ? 1 : int(1, 3);
        const s = trySell(leases[z], qty, now);
        if (!s) continue;
        leases[z] = s.leases;
        sold += qty;
        known[z].set(s.id, (known[z].get(s.id) ?? 0) + qty);
        for (const d of ZONES) if (d !== z) inFlight.push({ to: d, lease: s.id, qty, at: clock + int(1, o.maxLagMs) });
      }
      worst = Math.max(worst, sold - stock);
      if (!asking[z] && clock >= nextAsk[z] && needsBatch(leases[z], now, p)) ask(z, clock);
    }
    // sold out, and no zone (dead ones included: they may come back with their Redis) can sell: done
    if (sold >= stock && ZONES.every((z) => sellable(leases[z], local(z, clock)) === 0)) break;
  }
  return { seed: o.seed, stock, sold, worstOversell: worst, grants, deaths, coreFailovers, unsoldAtEnd: stock - sold };
}
