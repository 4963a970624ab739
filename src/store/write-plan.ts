import type { Clock } from '../core/clock.ts';
import type { Topology } from '../topology/index.ts';
import { storeErrors } from './errors.ts';
import type { WriteFence } from './fence.ts';
import type { ResourcePolicies } from './policy.ts';
import type { Candidate, Change, Conflict, RecordState, WriteRequest } from './types.ts';
import { bumpVv, maxVv, vvSum, vvText } from './versions.ts';

/** What every adapter is built from. */
export interface StoreDeps {
  zone: string;
  topology: Topology;
  fence: WriteFence;
  policies: ResourcePolicies;
  clock: Clock;
}

/** A planned local write: the new record state and its change-log entry (seq assigned by the adapter). */
export interface PlannedWrite {
  state: RecordState;
  change: Omit<Change, 'seq'>;
  /** JSON.stringify of the value (null when deleted), when planWrite already encoded it to measure it. */
  valueJson?: string;
}

/**
 * The value's JSON, refused when the write would be over store.maxValueBytes (value plus key):
 * one change over the log's message size would otherwise sit at the head of the zone's change
 * log and stop its shipping. UTF-8 bytes are counted only when the text could be over the limit.
 */
function encodeValue(deps: StoreDeps, resource: string, key: string, value: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(value) ?? 'null';
  } catch (e) {
    throw storeErrors.ERR_STORE_BAD_VALUE(
      `${resource}/${key}: the value cannot be written as JSON (${(e as Error).message})`,
      {
        cause: e,
      },
    );
  }
  const limit = deps.topology.config.store.maxValueBytes;
  if ((json.length + key.length) * 3 > limit) {
    const bytes = Buffer.byteLength(json) + Buffer.byteLength(key);
    if (bytes > limit)
      throw storeErrors.ERR_STORE_TOO_LARGE(
        `${resource}/${key} is ${bytes} bytes (value JSON plus key), over store.maxValueBytes (${limit})`,
        { details: { bytes, limit } },
      );
  }
  return json;
}

/**
 * Checks a local write against the fence, the lock and ifVersion, and computes the new
 * state: the zone's counter in the version vector goes up by one.
 */
export function planWrite(deps: StoreDeps, local: RecordState | undefined, req: WriteRequest): PlannedWrite {
  const { zone, topology, fence, policies } = deps;
  const cls = policies.classOf(req.resource);
  const count = topology.config.shards.count;
  if (!Number.isInteger(req.shard) || req.shard < 0 || req.shard >= count)
    throw storeErrors.ERR_STORE_BAD_SHARD(`shard ${req.shard} is outside 0..${count - 1}`, {
      details: { shard: req.shard },
    });
  if (cls === 'global') {
    if (fence.checkGlobal) fence.checkGlobal(zone, req.epoch);
    else if (zone !== topology.coreZone)
      throw storeErrors.ERR_STORE_NOT_CORE(
        `${req.resource} is global: only the core zone ${topology.coreZone} writes it, not ${zone}`,
        { details: { resource: req.resource, core: topology.coreZone, zone } },
      );
  }
  if (cls === 'sharded')
    fence.check(zone, req.shard, req.epoch, topology.config.resources[req.resource]?.consistency ?? 'fenced');
  if (local?.locked)
    throw storeErrors.ERR_STORE_LOCKED(`${req.resource}/${req.key} is locked by a replication conflict`, {
      details: { id: `${req.resource}/${req.key}` },
    });
  if (req.ifVersion !== undefined) {
    const current = local ? local.version : 0;
    if (current !== req.ifVersion)
      throw storeErrors.ERR_STORE_VERSION_MISMATCH(
        `${req.resource}/${req.key} is at version ${current}, not ${req.ifVersion}`,
        { details: { current, expected: req.ifVersion } },
      );
  }
  const vv = bumpVv(local?.vv ?? {}, zone);
  const deleted = req.delete === true;
  const valueJson = encodeValue(deps, req.resource, req.key, deleted ? null : (req.value ?? null));
  const p = build(deps, req.resource, req.key, req.shard, req.epoch, cls, req.value ?? null, deleted, vv);
  p.valueJson = valueJson;
  return p;
}

function build(
  deps: StoreDeps,
  resource: string,
  key: string,
  shard: number,
  epoch: number,
  cls: RecordState['cls'],
  value: unknown,
  deleted: boolean,
  vv: Record<string, number>,
): PlannedWrite {
  const time = deps.clock.wallTime();
  const version = vvSum(vv);
  const v = deleted ? null : value;
  const state: RecordState = {
    resource,
    key,
    shard,
    cls,
    value: v,
    deleted,
    vv,
    version,
    origin: deps.zone,
    time,
    locked: false,
    candidates: [],
  };
  return {
    state,
    change: { origin: deps.zone, shard, epoch, cls, resource, key, value: v, deleted, vv, version, time },
  };
}

/** Splits `resource/key` (the key may itself contain slashes). */
export function parseConflictId(id: string): { resource: string; key: string } {
  const i = id.indexOf('/');
  if (i <= 0) throw storeErrors.ERR_STORE_CONFLICT_UNKNOWN(`bad conflict id "${id}" (expected resource/key)`);
  return { resource: id.slice(0, i), key: id.slice(i + 1) };
}

/**
 * Plans a resolution: the picked candidate's value as a new local version whose vector
 * descends from every candidate (max of them, plus one for this zone).
 */
export function planResolve(deps: StoreDeps, local: RecordState | undefined, id: string, pick: string): PlannedWrite {
  if (!local?.locked) throw storeErrors.ERR_STORE_CONFLICT_UNKNOWN(`no open conflict ${id} in ${deps.zone}`);
  // a version as `multizone conflicts` prints it ("v10") or bare ("10")
  const hits = local.candidates.filter(
    (c) => c.origin === pick || String(vvSum(c.vv)) === pick || `v${vvSum(c.vv)}` === pick || vvText(c.vv) === pick,
  );
  if (hits.length !== 1)
    throw storeErrors.ERR_STORE_CONFLICT_PICK(
      `--pick ${pick} matches ${hits.length} of ${local.candidates.length} versions of ${id} (use a zone, a version number such as v3, or a vector)`,
      {
        details: {
          candidates: local.candidates.map((c) => ({ origin: c.origin, version: vvSum(c.vv), vv: vvText(c.vv) })),
        },
      },
    );
  const c = hits[0] as Candidate;
  const vv = bumpVv(maxVv(local.candidates.map((x) => x.vv)), deps.zone);
  return build(deps, local.resource, local.key, local.shard, 0, local.cls, c.value, c.deleted, vv);
}

/** The conflict a locked record stands for. */
export function conflictOf(s: RecordState, lockedAt: number): Conflict {
  return {
    id: `${s.resource}/${s.key}`,
    resource: s.resource,
    key: s.key,
    shard: s.shard,
    candidates: s.candidates.map((c) => ({ ...c, version: vvSum(c.vv) })),
    lockedAt,
  };
}
