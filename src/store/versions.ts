import { createHash } from 'node:crypto';
import type { Candidate, Change, RecordState, VersionVector } from './types.ts';

/** How two version vectors relate. */
export type Order = 'equal' | 'before' | 'after' | 'concurrent';

/** Compares a with b: 'before' means every write in a is also in b (b descends from a). */
export function compareVv(a: VersionVector, b: VersionVector): Order {
  let less = false;
  let more = false;
  for (const z of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[z] ?? 0;
    const y = b[z] ?? 0;
    if (x < y) less = true;
    else if (x > y) more = true;
  }
  if (less && more) return 'concurrent';
  if (less) return 'before';
  if (more) return 'after';
  return 'equal';
}

/** True when `rec` is `w` or descends from it: the write `w` is part of the record's history. */
export function descendsFrom(w: VersionVector, rec: VersionVector | undefined): boolean {
  if (rec === undefined) return false;
  const o = compareVv(w, rec);
  return o === 'before' || o === 'equal';
}

/** Pointwise maximum: the smallest vector that descends from all of them. */
export function maxVv(vs: readonly VersionVector[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of vs) for (const [z, n] of Object.entries(v)) if (n > (out[z] ?? 0)) out[z] = n;
  return out;
}

/** Sum of the counters: a scalar version that grows with every write anywhere. */
export function vvSum(v: VersionVector): number {
  let s = 0;
  for (const n of Object.values(v)) s += n;
  return s;
}

/** Canonical text `sh-a:2,sh-b:1` (sorted, zeros dropped); also accepted by resolve --pick. */
export function vvText(v: VersionVector): string {
  return Object.keys(v)
    .filter((z) => (v[z] ?? 0) > 0)
    .sort()
    .map((z) => `${z}:${v[z]}`)
    .join(',');
}

/** Adds one write by zone. */
export function bumpVv(v: VersionVector, zone: string): Record<string, number> {
  return { ...v, [zone]: (v[zone] ?? 0) + 1 };
}

/** Candidates sorted deterministically (so every zone stores the same locked state). */
export function sortCandidates(cs: Candidate[]): Candidate[] {
  return [...cs].sort((a, b) =>
    a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : vvText(a.vv) < vvText(b.vv) ? -1 : 1,
  );
}

/** How a resource settles concurrent writes (topology `conflict:`). */
export type ConflictPolicy =
  | { kind: 'lock' }
  /** The version written by the shard's owner (the core zone for global resources) wins; otherwise lock. */
  | { kind: 'owner-wins'; owner: (shard: number) => string }
  | { kind: 'merge'; name: string; fn: MergeFn };

/** A deterministic merge of concurrent versions (same input order → same output in every zone). */
export type MergeFn = (candidates: readonly Candidate[]) => { value: unknown; deleted: boolean };

/** What reconciling an incoming version with the local record did. */
export type Outcome = 'applied' | 'stale' | 'conflict' | 'settled';

function contentKey(c: Candidate): string {
  return `${c.origin}\u0000${c.deleted ? 1 : 0}\u0000${stableJson(c.value)}`;
}

function candidatesOf(s: RecordState): Candidate[] {
  return s.locked ? s.candidates : [{ origin: s.origin, vv: s.vv, value: s.value, deleted: s.deleted, time: s.time }];
}

function fromCandidate(base: RecordState, c: Candidate, vv: VersionVector): RecordState {
  return {
    ...base,
    value: c.value,
    deleted: c.deleted,
    vv,
    version: vvSum(vv),
    origin: c.origin,
    time: c.time,
    locked: false,
    candidates: [],
  };
}

/**
 * Merges an incoming record state (a replicated change, or another zone's state during
 * anti-entropy) into the local one. Keeps only versions no other version descends from;
 * one left → it is the record; several (concurrent writes) → the policy decides: lock
 * (default), owner-wins or merge. Never compares wall clocks.
 *
 * Worked example: local {sh-a:1} and incoming {sh-a:1, sh-b:1} → incoming descends from
 * local → applied. Local {sh-a:2} and incoming {sh-a:1, sh-b:1} → concurrent → locked with
 * both as candidates and vv {sh-a:2, sh-b:1}, so a later {sh-a:1} is recognised as stale.
 */
export function reconcile(
  local: RecordState | undefined,
  incoming: RecordState,
  policy: ConflictPolicy,
): { state: RecordState; outcome: Outcome } {
  if (!local) return { state: incoming, outcome: incoming.locked ? 'conflict' : 'applied' };
  const all = [...candidatesOf(local), ...candidatesOf(incoming)];
  const frontier: Candidate[] = [];
  for (const c of all) {
    const same = frontier.findIndex((f) => compareVv(c.vv, f.vv) === 'equal');
    if (same >= 0) {
      // equal vectors with different contents can only come from two zones settling the same
      // conflict differently (owner-wins while the shard map moved): pick one deterministically
      // so anti-entropy converges instead of comparing equal versions forever
      if (contentKey(c) < contentKey(frontier[same]!)) frontier[same] = c;
      continue;
    }
    if (frontier.some((f) => compareVv(c.vv, f.vv) === 'before')) continue;
    for (let i = frontier.length - 1; i >= 0; i--)
      if (compareVv(frontier[i]!.vv, c.vv) === 'before') frontier.splice(i, 1);
    frontier.push(c);
  }
  const base: RecordState = { ...local, shard: incoming.shard, cls: incoming.cls };
  if (frontier.length === 1) {
    const only = frontier[0]!;
    const same =
      !local.locked &&
      compareVv(local.vv, only.vv) === 'equal' &&
      contentKey(candidatesOf(local)[0]!) === contentKey(only);
    return { state: same ? local : fromCandidate(base, only, only.vv), outcome: same ? 'stale' : 'applied' };
  }
  const sorted = sortCandidates(frontier);
  const top = maxVv(sorted.map((c) => c.vv));
  if (policy.kind === 'owner-wins') {
    const owner = policy.owner(incoming.shard);
    const wins = sorted.filter((c) => c.origin === owner);
    if (wins.length === 1) return { state: fromCandidate(base, wins[0]!, top), outcome: 'settled' };
  } else if (policy.kind === 'merge') {
    const m = policy.fn(sorted);
    return {
      state: fromCandidate(base, { ...sorted[0]!, value: m.value, deleted: m.deleted }, top),
      outcome: 'settled',
    };
  }
  const key = (cs: Candidate[]) => cs.map((c) => `${c.origin}@${vvText(c.vv)}`).join('|');
  const unchanged = local.locked && key(local.candidates) === key(sorted);
  const first = sorted[0]!;
  return {
    state: {
      ...base,
      value: first.value,
      deleted: first.deleted,
      vv: top,
      version: vvSum(top),
      origin: first.origin,
      time: first.time,
      locked: true,
      candidates: sorted,
    },
    outcome: unchanged ? 'stale' : 'conflict',
  };
}

/** The record state a replicated change carries. */
export function stateOfChange(c: Change): RecordState {
  return {
    resource: c.resource,
    key: c.key,
    shard: c.shard,
    cls: c.cls,
    value: c.value,
    deleted: c.deleted,
    vv: c.vv,
    version: c.version,
    origin: c.origin,
    time: c.time,
    locked: false,
    candidates: [],
  };
}

/** Stable JSON (sorted object keys) so equal values hash equally in every zone. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
    .join(',')}}`;
}

/** One line describing a record's replicated state (what anti-entropy compares). */
export function stateDigest(s: RecordState): string {
  const cands = s.locked ? s.candidates.map((c) => `${c.origin}@${vvText(c.vv)}`).join('|') : '';
  return `${s.resource}\u0000${s.key}\u0000${vvText(s.vv)}\u0000${s.locked ? 1 : 0}\u0000${cands}\u0000${s.deleted ? 1 : 0}\u0000${stableJson(s.value)}`;
}

/** Records read and hashed between two turns of the event loop. */
export const DIGEST_PAGE = 1000;

/**
 * A zone's digests a shard at a time, a page at a time (`pages` yields one shard's replicated
 * records in (resource, key) order, in pages of about DIGEST_PAGE), with a turn of the event
 * loop after each page: the whole table is never in memory at once, and an embedded (SQLite)
 * zone keeps serving requests while anti-entropy reads it. The same digests as one pass over
 * the table in (shard, resource, key) order.
 */
export async function digestByShard(
  shards: Iterable<number>,
  pages: (shard: number) => AsyncIterable<readonly RecordState[]> | Iterable<readonly RecordState[]>,
): Promise<Map<number, string>> {
  const b = new DigestBuilder();
  for (const shard of shards)
    for await (const page of pages(shard)) {
      for (const s of page) b.add(s);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  return b.finish();
}

/**
 * The shards a `records` table holds, ascending, one index probe each (a loose index scan;
 * neither database skips through an index by itself). Valid in SQLite and PostgreSQL.
 */
export const PRESENT_SHARDS_SQL = (records: string) => `WITH RECURSIVE s(v) AS (
    SELECT min(shard) FROM ${records}
    UNION ALL SELECT (SELECT min(shard) FROM ${records} WHERE shard > s.v) FROM s WHERE s.v IS NOT NULL)
  SELECT v FROM s WHERE v IS NOT NULL`;

/** Accumulates a per-shard digest from record states in (resource, key) order. */
export class DigestBuilder {
  private readonly hashes = new Map<number, ReturnType<typeof createHash>>();

  add(s: RecordState): void {
    let h = this.hashes.get(s.shard);
    if (!h) {
      h = createHash('sha1');
      this.hashes.set(s.shard, h);
    }
    h.update(stateDigest(s));
    h.update('\n');
  }

  finish(): Map<number, string> {
    const out = new Map<number, string>();
    for (const [s, h] of this.hashes) out.set(s, h.digest('hex').slice(0, 16));
    return out;
  }
}
