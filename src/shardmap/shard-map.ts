import type { Clock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import { fnv1a } from '../core/random.ts';
import { shardmapErrors } from './errors.ts';
import type { Kv, KvEntry, KvWatch } from './kv/kv.ts';

/** The pseudo-shard of global resources: one writer (the core zone), moved like any shard. */
export const GLOBAL = 'global' as const;
/** A shard number, or the global pseudo-shard. */
export type ShardId = number | typeof GLOBAL;

/** Who owns a shard right now. */
export interface ShardOwner {
  zone: string;
  /** Grows by one on every move of this shard. */
  epoch: number;
  /** Wall ms before which `fenced` writes are refused at the new owner (the old lease's expiry); 0 = at once. */
  notBefore: number;
  /** A planned move is under way: no zone may write this shard until it lands. */
  draining: boolean;
  /** The control plane leader's term that last moved or drained it (0 before any leader did): a fencing token. */
  term?: number;
  /** Kv revision of the entry (for compare-and-set moves). */
  revision: number;
}

/** A zone's lease as stored in the Kv. */
export interface LeaseRecord {
  zone: string;
  /** Wall ms the lease ends unless renewed. */
  expiresAt: number;
  renewedAt: number;
  /** The newest shard-map revision the zone's router had applied when it renewed (drain acks). */
  seen: number;
  /** Wall ms the zone's process shut down cleanly (it is restarting, or was stopped on purpose). */
  left?: number;
  revision: number;
}

/** What a zone's own lease keeper says about its lease (stricter than the Kv record: local clock). */
export interface LocalLease {
  readonly zone: string;
  valid(): boolean;
  /** Ms until the lease lapses on the holder's own clock (negative once lapsed). */
  remainingMs(): number;
}

/** A change of one shard's owner, as watch listeners see it. */
export interface ShardChange {
  shard: ShardId;
  owner: ShardOwner;
  previous: ShardOwner | undefined;
}

/** A copy of a map's owners and leases another process can read by (ShardMap.mirror). */
export interface MapMirror {
  revision: number;
  /** The owners; absent in a copy of the leases alone (the owners did not change). */
  global?: ShardOwner | null;
  shards?: (ShardOwner | null)[];
  /** Zone → wall ms its lease holds until (0: not held). */
  leases: Record<string, number>;
}

/**
 * Resolves true once `have()` reaches epoch, false after ms: `waiters` are called on every
 * change (a ShardMap's watch, a mirror's new copy) and each checks its own shard.
 */
export function waitForEpochIn(
  waiters: Set<() => void>,
  clock: Clock,
  have: () => number,
  epoch: number,
  ms: number,
): Promise<boolean> {
  if (have() >= epoch) return Promise.resolve(true);
  if (ms <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      waiters.delete(check);
      timer.cancel();
      resolve(ok);
    };
    const check = () => {
      if (have() >= epoch) done(true);
    };
    const timer = clock.setTimer(ms, () => done(false));
    waiters.add(check);
  });
}

/** The fence API the data plane uses (store, replication): small on purpose so it is easy to adapt. */
export interface FenceApi {
  owner(shard: ShardId): { zone: string; epoch: number };
  /** True only if zone owns shard at epoch, is not draining, and holds an unexpired lease. */
  canWrite(zone: string, shard: ShardId, epoch: number, consistency?: 'fenced' | 'available'): boolean;
  watch(listener: (c: ShardChange) => void): () => void;
}

/**
 * The one shape of a zone's view of the shard map, as the planes read it: the router routes
 * by `entry` and waits for epochs, the store fences by `owner`/`canWrite`, apps stamp
 * `owner(shard).epoch`. A zone's own `ShardMap` satisfies it; planes take the `Pick` they need.
 */
export interface ShardMapView extends FenceApi {
  entry(shard: ShardId): ShardOwner;
  waitForEpoch(shard: ShardId, epoch: number, ms: number): Promise<boolean>;
  ready(): boolean;
}

export const mapKey = (s: ShardId): string => `map.${s}`;
export const leaseKey = (zone: string): string => `lease.${zone}`;

/** shard = fnv1a(key) % count ('modulo': a numeric key modulo count), the one hash everybody uses. */
export function shardForKey(key: string, count: number, hash: 'fnv1a' | 'modulo' = 'fnv1a'): number {
  if (hash === 'modulo' && /^\d{1,15}$/.test(key)) return Number(key) % count;
  return fnv1a(key) % count;
}

function parseOwner(e: KvEntry): ShardOwner | undefined {
  if (e.value === null) return undefined;
  try {
    const v = JSON.parse(e.value) as Partial<ShardOwner>;
    if (typeof v.zone !== 'string' || typeof v.epoch !== 'number') return undefined;
    return {
      zone: v.zone,
      epoch: v.epoch,
      notBefore: v.notBefore ?? 0,
      draining: v.draining === true,
      ...(typeof v.term === 'number' ? { term: v.term } : {}),
      revision: e.revision,
    };
  } catch {
    return undefined;
  }
}

function parseLease(e: KvEntry): LeaseRecord | undefined {
  if (e.value === null) return undefined;
  try {
    const v = JSON.parse(e.value) as Partial<LeaseRecord>;
    if (typeof v.zone !== 'string' || typeof v.expiresAt !== 'number') return undefined;
    return {
      zone: v.zone,
      expiresAt: v.expiresAt,
      renewedAt: v.renewedAt ?? 0,
      seen: v.seen ?? 0,
      ...(typeof v.left === 'number' ? { left: v.left } : {}),
      revision: e.revision,
    };
  } catch {
    return undefined;
  }
}

function ownerValue(o: Pick<ShardOwner, 'zone' | 'epoch' | 'notBefore' | 'draining'> & { term?: number }): string {
  const term = o.term ? { term: o.term } : {};
  return JSON.stringify({ zone: o.zone, epoch: o.epoch, notBefore: o.notBefore, draining: o.draining, ...term });
}

/**
 * A write by a leader of an older term than the entry's is refused: a deposed leader that has
 * not noticed yet (its Kv handle was cut off, its process paused) cannot undo a newer leader's move.
 */
function checkTerm(shard: ShardId, cur: ShardOwner, term: number | undefined): number {
  if (term === undefined) return cur.term ?? 0;
  if (term < (cur.term ?? 0))
    throw shardmapErrors.ERR_SHARDMAP_STALE_TERM(
      `shard map: shard ${shard} was last written in term ${cur.term ?? 0}; a leader of term ${term} may not move it`,
      { details: { shard, term, current: cur.term } },
    );
  return term;
}

/**
 * A watched, in-memory copy of the shard map and the leases, kept in step with the Kv.
 * Reads (owner, canWrite) are synchronous and cheap: the router calls them per request.
 * Writes (init, move, drain) are compare-and-set on the entry's revision.
 */
export class ShardMap implements ShardMapView {
  private readonly owners: (ShardOwner | undefined)[];
  private globalOwner: ShardOwner | undefined;
  private readonly leases = new Map<string, LeaseRecord>();
  private readonly local = new Map<string, LocalLease>();
  private readonly listeners = new Set<(c: ShardChange) => void>();
  private readonly waiters = new Set<() => void>();
  private watches: KvWatch[] = [];
  /** Newest map revision applied. */
  revision = 0;
  /** Every shard had an owner at some point (see ready()). */
  private complete = false;

  constructor(
    private readonly kv: Kv,
    readonly count: number,
    private readonly clock: Clock,
  ) {
    this.owners = new Array(count);
  }

  /** Starts watching, then loads the current state (events that race the load are ordered by revision). */
  async start(): Promise<this> {
    this.watches.push(await this.kv.watch('map.', (e) => this.applyMap(e)));
    this.watches.push(await this.kv.watch('lease.', (e) => this.applyLease(e)));
    await this.reload();
    return this;
  }

  /** Re-reads every entry (after a heal, or to be sure). */
  async reload(): Promise<void> {
    for (const k of await this.kv.keys('map.')) {
      const e = await this.kv.get(k);
      if (e) this.applyMap(e);
    }
    for (const k of await this.kv.keys('lease.')) {
      const e = await this.kv.get(k);
      if (e) this.applyLease(e);
    }
  }

  stop(): void {
    for (const w of this.watches) w.stop();
    this.watches = [];
  }

  /**
   * Drops the watches and watches again, then re-reads everything: for a watch that went
   * quiet while the Kv answers (a NATS watch whose consumer sat on a server a partition cut
   * off stays silent after the Kv is back). Throws when the Kv is out of reach; call again.
   */
  async resync(): Promise<void> {
    this.stop();
    await this.start();
  }

  /**
   * True once every shard has an owner. An owner is never taken away again, so once true it
   * stays true: the router asks per request, and a scan of every shard (1024 by default) each
   * time was a cost that grew with the map.
   */
  ready(): boolean {
    if (!this.complete) this.complete = this.globalOwner !== undefined && this.owners.every((o) => o !== undefined);
    return this.complete;
  }

  private applyMap(e: KvEntry): void {
    const id = e.key.slice(4);
    const shard: ShardId = id === GLOBAL ? GLOBAL : Number(id);
    if (shard !== GLOBAL && !(Number.isInteger(shard) && shard >= 0 && shard < this.count)) return;
    const prev = shard === GLOBAL ? this.globalOwner : this.owners[shard];
    if (prev && prev.revision >= e.revision) return;
    const next = parseOwner(e);
    if (!next) return;
    if (shard === GLOBAL) this.globalOwner = next;
    else this.owners[shard] = next;
    if (e.revision > this.revision) this.revision = e.revision;
    for (const l of this.listeners) l({ shard, owner: next, previous: prev });
    for (const w of [...this.waiters]) w();
  }

  private applyLease(e: KvEntry): void {
    const zone = e.key.slice(6);
    const prev = this.leases.get(zone);
    if (prev && prev.revision >= e.revision) return;
    const rec = parseLease(e);
    if (rec) this.leases.set(zone, rec);
    else if (e.value === null) this.leases.delete(zone);
  }

  /** Uses a zone's own lease keeper (its local clock) instead of the Kv record for canWrite. */
  attachLease(lease: LocalLease): void {
    this.local.set(lease.zone, lease);
  }

  /** The full owner entry; throws when the map is not loaded yet. */
  entry(shard: ShardId): ShardOwner {
    const o = shard === GLOBAL ? this.globalOwner : this.owners[shard];
    if (!o) throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`shard map: no owner known for shard ${shard}`);
    return o;
  }

  owner(shard: ShardId): { zone: string; epoch: number } {
    return this.entry(shard);
  }

  /** True when zone's lease is unexpired (its own keeper if attached, else the Kv record). */
  leaseValid(zone: string): boolean {
    const l = this.local.get(zone);
    if (l) return l.valid();
    const r = this.leases.get(zone);
    return r !== undefined && r.expiresAt > this.clock.wallTime();
  }

  lease(zone: string): LeaseRecord | undefined {
    return this.leases.get(zone);
  }

  /** The newest map revision any other zone with a valid lease says it has applied (`seen`). */
  othersSeen(zone: string): number {
    let max = 0;
    const now = this.clock.wallTime();
    for (const [z, r] of this.leases) if (z !== zone && r.expiresAt > now && r.seen > max) max = r.seen;
    return max;
  }

  canWrite(zone: string, shard: ShardId, epoch: number, consistency: 'fenced' | 'available' = 'fenced'): boolean {
    const o = shard === GLOBAL ? this.globalOwner : this.owners[shard];
    if (!o || o.zone !== zone || o.epoch !== epoch || o.draining) return false;
    if (consistency === 'fenced' && o.notBefore > this.clock.wallTime()) return false;
    return this.leaseValid(zone);
  }

  watch(listener: (c: ShardChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Resolves true once shard's epoch reaches epoch, false after ms (one watch round-trip, usually). */
  waitForEpoch(shard: ShardId, epoch: number, ms: number): Promise<boolean> {
    const have = () => (shard === GLOBAL ? this.globalOwner : this.owners[shard])?.epoch ?? 0;
    return waitForEpochIn(this.waiters, this.clock, have, epoch, ms);
  }

  /** Shards (numbers) owned by zone, ascending. */
  shardsOf(zone: string): number[] {
    const out: number[] = [];
    this.owners.forEach((o, s) => {
      if (o?.zone === zone) out.push(s);
    });
    return out;
  }

  /**
   * The owners (unless `owners` is false) and every known lease as wall-clock expiries, for a
   * copy in another process (shardmap/mirror.ts). A lease this process keeps itself is given
   * as now + its remaining time on the keeper's own clock: never later than the keeper's own
   * judgement.
   */
  mirror(owners = true): MapMirror {
    const now = this.clock.wallTime();
    const leases: Record<string, number> = {};
    for (const [z, r] of this.leases) leases[z] = r.expiresAt;
    for (const [z, l] of this.local) leases[z] = l.valid() ? now + l.remainingMs() : 0;
    if (!owners) return { revision: this.revision, leases };
    return {
      revision: this.revision,
      global: this.globalOwner ?? null,
      shards: this.owners.map((o) => o ?? null),
      leases,
    };
  }

  /** Per-zone summary plus every shard's owner, epoch and lease state (GET /api/shardmap). */
  snapshot(): {
    revision: number;
    count: number;
    zones: Record<string, { shards: number; global: boolean; lease: { valid: boolean; expiresAt: number | null } }>;
    global: ShardOwner | null;
    shards: { shard: number; zone: string; epoch: number; notBefore: number; draining: boolean; lease: boolean }[];
  } {
    const zones: Record<
      string,
      { shards: number; global: boolean; lease: { valid: boolean; expiresAt: number | null } }
    > = {};
    const z = (name: string) =>
      (zones[name] ??= {
        shards: 0,
        global: false,
        lease: { valid: this.leaseValid(name), expiresAt: this.leases.get(name)?.expiresAt ?? null },
      });
    for (const name of this.leases.keys()) z(name);
    const shards = this.owners.map((o, shard) => {
      if (o) z(o.zone).shards++;
      return {
        shard,
        zone: o?.zone ?? '',
        epoch: o?.epoch ?? 0,
        notBefore: o?.notBefore ?? 0,
        draining: o?.draining ?? false,
        lease: o ? this.leaseValid(o.zone) : false,
      };
    });
    if (this.globalOwner) z(this.globalOwner.zone).global = true;
    return { revision: this.revision, count: this.count, zones, global: this.globalOwner ?? null, shards };
  }

  // ---- writes (the controller and operators) ----

  /** Creates every missing entry at epoch 1 from the topology's initial owners (idempotent, CAS create). */
  async init(initialOwners: readonly string[], coreZone: string): Promise<void> {
    const create = async (s: ShardId, zone: string) => {
      try {
        await this.kv.put(mapKey(s), ownerValue({ zone, epoch: 1, notBefore: 0, draining: false }), { expect: 0 });
      } catch (e) {
        if (!hasCode(e, shardmapErrors.ERR_FAILOVER_KV_CONFLICT)) throw e;
      }
    };
    const existing = new Set(await this.kv.keys('map.'));
    if (!existing.has(mapKey(GLOBAL))) await create(GLOBAL, coreZone);
    for (let s = 0; s < this.count; s++) if (!existing.has(mapKey(s))) await create(s, initialOwners[s]!);
    await this.reload();
  }

  /**
   * Moves shard to zone with epoch+1 (CAS on the entry we hold). Returns the new owner.
   * A fence still pending on the current entry is inherited: if shard 28 moved gz-a → sh-b
   * with notBefore = gz-a's lease expiry, and sh-b then hands it on before that time, the
   * new owner must wait too, because partitioned gz-a may still write until its lease ends.
   */
  async move(shard: ShardId, to: string, opts: { notBefore?: number; term?: number } = {}): Promise<ShardOwner> {
    const cur = await this.fresh(shard);
    const term = checkTerm(shard, cur, opts.term);
    const notBefore = Math.max(opts.notBefore ?? 0, cur.notBefore ?? 0);
    const next = { zone: to, epoch: cur.epoch + 1, notBefore, draining: false, term };
    const revision = await this.kv.put(mapKey(shard), ownerValue(next), { expect: cur.revision });
    const o = { ...next, revision };
    this.applyMap({ key: mapKey(shard), value: ownerValue(next), revision });
    return o;
  }

  /** Sets or clears the draining flag (same epoch): writes stop everywhere while a planned move lands. */
  async setDraining(shard: ShardId, draining: boolean, term?: number): Promise<ShardOwner> {
    const cur = await this.fresh(shard);
    const next = {
      zone: cur.zone,
      epoch: cur.epoch,
      notBefore: cur.notBefore,
      draining,
      term: checkTerm(shard, cur, term),
    };
    const revision = await this.kv.put(mapKey(shard), ownerValue(next), { expect: cur.revision });
    this.applyMap({ key: mapKey(shard), value: ownerValue(next), revision });
    return { ...next, revision };
  }

  private async fresh(shard: ShardId): Promise<ShardOwner> {
    const e = await this.kv.get(mapKey(shard));
    const o = e ? parseOwner(e) : undefined;
    if (!e || !o) throw shardmapErrors.ERR_FAILOVER_KV_UNAVAILABLE(`shard map: no entry for shard ${shard}`);
    this.applyMap(e);
    return o;
  }
}
