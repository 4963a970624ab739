/**
 * The batch quota of a dish's stock (Suning's "inventory pre-allocation"), as pure functions.
 *
 * A dish's stock is a `global` resource: only the core zone (the shard map's global writer)
 * hands it out. It grants each zone a **lease**: a batch of units (a fraction of what is
 * free) the zone may sell until the lease ends, with no cross-zone call per sale. A zone asks
 * for the next batch at a low-water mark. Nothing here reads a clock: every `now` is passed in.
 *
 * Why it never oversells (sold ≤ stock), in one line per rule:
 * - The core counts a lease as fully spent (`amount`) until it ended `graceMs` ago.
 * - A zone sells from a lease only before `sentAt + leaseMs - skewMs`, where `sentAt` is its
 *   own clock when it *sent* the request: the core granted later, so the zone stops first
 *   whatever the two clocks read (only durations are compared, never two clocks' times).
 * - After `end + graceMs` the core counts what it knows was sold under the lease (the sales
 *   rows reach it by table replication; `graceMs` must exceed that lag plus the wall-clock
 *   skew between the zones that may hold the core role — a dead zone's committed sales must
 *   still reach the core within it) and frees the rest: a dead zone's unspent quota comes back.
 * - A new core (core-zone failover) starts from its replica of the book, which may miss the
 *   last grants: it grants nothing until `fenceUntil` (its takeover + `leaseMs` + `graceMs`),
 *   when every lease the old core could have granted has ended and its sales have arrived.
 */

/** How batches are cut; checked once by `checkPolicy`. */
export interface QuotaPolicy {
  /** Share of the free stock one batch takes (0 < f ≤ 1), e.g. 0.05. */
  batchFraction: number;
  /** Smallest batch (units), so the tail of the stock is not cut into slivers. */
  minBatch: number;
  /** A zone asks for the next batch when it can sell at most this many more units. */
  lowWater: number;
  /** How long a lease lasts, from the zone's request. */
  leaseMs: number;
  /** Margin for clock rate drift between the zone and the core (the zone stops this much earlier). */
  skewMs: number;
  /** How long after a lease's end the core waits for its sales to arrive before freeing the rest. */
  graceMs: number;
}

/** Throws on a policy that cannot work (a bad config stops startup). */
export function checkPolicy(p: QuotaPolicy): QuotaPolicy {
  const bad: string[] = [];
  if (!(p.batchFraction > 0 && p.batchFraction <= 1))
    bad.push(`batchFraction must be in (0, 1] (got ${p.batchFraction})`);
  if (!(Number.isInteger(p.minBatch) && p.minBatch >= 1))
    bad.push(`minBatch must be an integer >= 1 (got ${p.minBatch})`);
  if (!(Number.isInteger(p.lowWater) && p.lowWater >= 0))
    bad.push(`lowWater must be an integer >= 0 (got ${p.lowWater})`);
  if (!(p.leaseMs > 0)) bad.push(`leaseMs must be > 0 (got ${p.leaseMs})`);
  if (!(p.skewMs >= 0 && p.skewMs < p.leaseMs)) bad.push(`skewMs must be in [0, leaseMs) (got ${p.skewMs})`);
  if (!(p.graceMs >= 0)) bad.push(`graceMs must be >= 0 (got ${p.graceMs})`);
  if (bad.length) throw Object.assign(new Error(`quota policy: ${bad.join('; ')}`), { code: 'ERR_QUOTA_POLICY' });
  return p;
}

/** A lease as the core records it (core clock). */
export interface CoreLease {
  id: string;
  zone: string;
  amount: number;
  /** Core clock at the grant + leaseMs. */
  end: number;
  /** Set when the zone returned the lease: it sold exactly this many and will sell no more. */
  returnedUsed?: number;
}

/** The core's book for one dish. */
export interface CoreBook {
  stock: number;
  leases: readonly CoreLease[];
  /** No grant before this (core clock): set on a core-zone takeover. */
  fenceUntil: number;
}

/** Units sold under each lease id, as far as the core knows (its replica of the sales). */
export type KnownSales = ReadonlyMap<string, number>;

/** What a lease holds back from the free stock at `now`. */
export function reserved(l: CoreLease, now: number, known: KnownSales, p: QuotaPolicy): number {
  const sold = known.get(l.id) ?? 0;
  if (l.returnedUsed !== undefined) return Math.max(l.returnedUsed, sold);
  return now < l.end + p.graceMs ? Math.max(l.amount, sold) : sold;
}

/**
 * Units no lease holds and nobody sold: stock − what the book's leases reserve − sales under
 * leases the book does not know (granted by a core whose last writes this replica missed).
 */
export function freeUnits(book: CoreBook, now: number, known: KnownSales, p: QuotaPolicy): number {
  let used = 0;
  const ids = new Set<string>();
  for (const l of book.leases) {
    used += reserved(l, now, known, p);
    ids.add(l.id);
  }
  for (const [id, n] of known) if (!ids.has(id)) used += n;
  return book.stock - used;
}

/** The size of the next batch when `free` units are free: a fraction, at least minBatch, at most free. */
export function batchSize(free: number, p: QuotaPolicy): number {
  if (free <= 0) return 0;
  return Math.min(free, Math.max(p.minBatch, Math.ceil(free * p.batchFraction)));
}

export type GrantResult =
  | { ok: true; book: CoreBook; lease: CoreLease }
  | { ok: false; code: 'ERR_QUOTA_SOLD_OUT' | 'ERR_QUOTA_FENCED'; retryAfterMs: number };

/** A lease a zone gives back: it sold `used` units under it and will sell no more. */
export interface LeaseReturn {
  id: string;
  used: number;
}

/**
 * The core's answer to a zone's request: first records the leases the zone returns, then
 * grants a new batch (or says why not). `id` names the new lease; `now` is the core's clock.
 */
export function grant(
  book: CoreBook,
  req: { zone: string; returns?: readonly LeaseReturn[]; id: string },
  now: number,
  known: KnownSales,
  p: QuotaPolicy,
): GrantResult & { book?: CoreBook } {
  let leases = book.leases;
  if (req.returns?.length) {
    const back = new Map(req.returns.map((r) => [r.id, r.used]));
    leases = leases.map((l) =>
      l.zone === req.zone && back.has(l.id) && l.returnedUsed === undefined
        ? { ...l, returnedUsed: Math.min(l.amount, Math.max(0, back.get(l.id)!)) }
        : l,
    );
  }
  // leases settled long ago only cost lookups: keep what they sold as one number
  const settled = leases.filter((l) => l.returnedUsed !== undefined || now >= l.end + p.graceMs);
  const next: CoreBook = { ...book, leases };
  if (now < book.fenceUntil)
    return { ok: false, code: 'ERR_QUOTA_FENCED', retryAfterMs: book.fenceUntil - now, book: next };
  const free = freeUnits(next, now, known, p);
  const amount = batchSize(free, p);
  if (amount <= 0) {
    // a lease still running may come back unspent: worth asking again after it could
    const open = leases.filter((l) => !settled.includes(l)).map((l) => l.end + p.graceMs - now);
    return {
      ok: false,
      code: 'ERR_QUOTA_SOLD_OUT',
      retryAfterMs: open.length ? Math.max(1, Math.min(...open)) : 0,
      book: next,
    };
  }
  const lease: CoreLease = { id: req.id, zone: req.zone, amount, end: now + p.leaseMs };
  return { ok: true, book: { ...next, leases: [...leases, lease] }, lease };
}

/** The book a core starts from when it takes the global role over (from its replica). */
export function takeOver(replica: CoreBook, now: number, p: QuotaPolicy): CoreBook {
  return { ...replica, fenceUntil: Math.max(replica.fenceUntil, now + p.leaseMs + p.graceMs) };
}

/** A lease as the zone holds it (zone clock). */
export interface ZoneLease {
  id: string;
  amount: number;
  used: number;
  /** The zone's clock when it sent the request + leaseMs − skewMs: it sells only before this. */
  sellUntil: number;
}

/** When a zone that sent its request at `sentAt` (its clock) must stop selling from the answer. */
export function sellUntil(sentAt: number, p: QuotaPolicy): number {
  return sentAt + p.leaseMs - p.skewMs;
}

/**
 * Takes `qty` units from the first lease that is still valid and has room (one lease per
 * sale, so a sale's units are counted under one lease id). Returns the lease id and the
 * new leases, or null (no quota here now).
 */
export function trySell(
  leases: readonly ZoneLease[],
  qty: number,
  now: number,
): { id: string; leases: ZoneLease[] } | null {
  const i = leases.findIndex((l) => now < l.sellUntil && l.used + qty <= l.amount);
  if (i < 0) return null;
  const l = leases[i]!;
  const out = leases.slice();
  out[i] = { ...l, used: l.used + qty };
  return { id: l.id, leases: out };
}

/** Units the zone can still sell now. */
export function sellable(leases: readonly ZoneLease[], now: number): number {
  let n = 0;
  for (const l of leases) if (now < l.sellUntil) n += l.amount - l.used;
  return n;
}

/** True when the zone should ask the core for the next batch. */
export function needsBatch(leases: readonly ZoneLease[], now: number, p: QuotaPolicy): boolean {
  return sellable(leases, now) <= p.lowWater;
}

/**
 * Leases the zone gives back with its next request: those it can no longer sell from (ended,
 * or full). Returning them early frees their unspent units before `end + graceMs`.
 */
export function splitReturns(leases: readonly ZoneLease[], now: number): { keep: ZoneLease[]; returns: LeaseReturn[] } {
  const keep: ZoneLease[] = [];
  const returns: LeaseReturn[] = [];
  for (const l of leases) {
    if (now < l.sellUntil && l.used < l.amount) keep.push(l);
    else returns.push({ id: l.id, used: l.used });
  }
  return { keep, returns };
}
