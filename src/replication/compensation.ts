import type { Clock } from '../core/clock.ts';
import { descendsFrom, type RecordState, type Store, type VersionVector } from '../store/index.ts';

/** One acknowledged write of the failed zone that some other zone had not applied. */
export interface PendingWrite {
  seq: number;
  resource: string;
  key: string;
  vv: VersionVector;
  /** Wall time it was acknowledged (ms). */
  time: number;
}

/** The RPO window at a zone's failure. */
export interface RpoSnapshot {
  zone: string;
  /** Wall time of the snapshot (the failure). */
  at: number;
  /** Acknowledged writes not yet applied in at least one other zone. */
  pending: PendingWrite[];
  count: number;
  /** From the oldest such write to the failure (ms); 0 when nothing was pending. */
  windowMs: number;
}

/**
 * Takes the RPO snapshot when `failed` goes down: its acknowledged replicated writes
 * beyond the lowest cursor any peer has for it.
 */
export async function rpoAtFailure(failed: Store, peers: readonly Store[], clock: Clock): Promise<RpoSnapshot> {
  let floor = Number.POSITIVE_INFINITY;
  for (const p of peers) floor = Math.min(floor, await p.cursor(failed.zone));
  if (!Number.isFinite(floor)) floor = 0;
  const pending: PendingWrite[] = [];
  for (let after = floor; ; ) {
    const page = await failed.changesAfter(after, 1000);
    if (page.length === 0) break;
    for (const c of page)
      if (c.cls !== 'local') pending.push({ seq: c.seq, resource: c.resource, key: c.key, vv: c.vv, time: c.time });
    after = page[page.length - 1]!.seq;
  }
  const at = clock.wallTime();
  return {
    zone: failed.zone,
    at,
    pending,
    count: pending.length,
    windowMs: pending.length ? Math.max(0, at - pending[0]!.time) : 0,
  };
}

/** Where one pending write stands in one zone. */
export type WriteFate = 'applied' | 'locked' | 'pending' | 'lost';

/**
 * A write is `applied` when the zone's record descends from it, `locked` when it is (or a
 * descendant of it is) a candidate of a locked record, `pending` while the zone's cursor
 * for the origin hasn't reached it, and `lost` when the cursor passed it but its effect is
 * nowhere: the invariant is that this never happens.
 */
export function fateOf(w: PendingWrite, state: RecordState | undefined, cursor: number): WriteFate {
  if (state) {
    if (state.locked && state.candidates.some((c) => descendsFrom(w.vv, c.vv))) return 'locked';
    if (descendsFrom(w.vv, state.vv)) return 'applied';
  }
  return cursor >= w.seq ? 'lost' : 'pending';
}

/** Compensation progress for a snapshot across the peers. */
export interface CompensationStatus {
  total: number;
  /** Writes applied (or superseded by a descendant) in every peer. */
  applied: number;
  /** Writes held as a locked conflict candidate in at least one peer (and not pending anywhere). */
  locked: number;
  pending: number;
  lost: number;
}

export async function compensationStatus(snap: RpoSnapshot, peers: readonly Store[]): Promise<CompensationStatus> {
  const out: CompensationStatus = { total: snap.count, applied: 0, locked: 0, pending: 0, lost: 0 };
  const cursors = await Promise.all(peers.map((p) => p.cursor(snap.zone)));
  for (const w of snap.pending) {
    const fates: WriteFate[] = [];
    for (let i = 0; i < peers.length; i++) fates.push(fateOf(w, await peers[i]!.state(w.resource, w.key), cursors[i]!));
    if (fates.includes('lost')) out.lost++;
    else if (fates.includes('pending')) out.pending++;
    else if (fates.includes('locked')) out.locked++;
    else out.applied++;
  }
  return out;
}

/** The drill's data-plane report after a zone returns. */
export interface CompensationReport extends CompensationStatus {
  rpo: { count: number; windowMs: number };
  /** Return → every pending write applied or locked in every peer (ms); undefined if it timed out. */
  wrtMs: number | undefined;
}

/**
 * Waits (polling) until every write of the snapshot is applied or locked in every peer;
 * the time from `returnedAt` (clock.now() when the zone came back) is the WRT. Writes still
 * pending at the timeout count as lost.
 */
export async function measureCompensation(opts: {
  snapshot: RpoSnapshot;
  peers: readonly Store[];
  clock: Clock;
  returnedAt: number;
  timeoutMs: number;
  pollMs?: number;
}): Promise<CompensationReport> {
  const { snapshot, peers, clock } = opts;
  const end = opts.returnedAt + opts.timeoutMs;
  for (;;) {
    const s = await compensationStatus(snapshot, peers);
    const rpo = { count: snapshot.count, windowMs: snapshot.windowMs };
    if (s.pending === 0) return { ...s, rpo, wrtMs: clock.now() - opts.returnedAt };
    if (clock.now() >= end) return { ...s, lost: s.lost + s.pending, pending: 0, rpo, wrtMs: undefined };
    await clock.sleep(opts.pollMs ?? 10);
  }
}
