import pg from 'pg';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../core/logger.ts';
import type { ShardChange } from '../../shardmap/index.ts';
import { type ReplicationTablesConfig, zoneUrl } from '../../topology/index.ts';
import { replicationErrors } from '../errors.ts';
import type { Log } from '../log.ts';
import { TableApplier } from './table-applier.ts';
import { checkTables, checkWalLevel, compareZones, type ResolvedTable, uncheckedConstraints } from './table-checks.ts';
import { TableDecoder } from './table-decoder.ts';
import { OwnerHistory, type TableOwnership } from './table-shard.ts';
import {
  APPLIED_MESSAGE,
  dominates,
  insertColumns,
  keyEquals,
  lockTriggerSql,
  qname,
  RESOLUTION_MESSAGE,
  refusedByDestination,
  SIDE_SCHEMA,
  SIDE_SCHEMA_SQL,
  updatedColumns,
  type Vv,
  versionedByTrigger,
  versionTriggerSql,
  vvMerge,
} from './table-sql.ts';

/** One open table conflict, as the control API and `multizone conflicts` show it. */
export interface TableConflict {
  /** `table:<zone>:<id>`. */
  id: string;
  zone: string;
  table: string;
  key: string;
  origin: string;
  local: unknown;
  remote: unknown;
  localVv: Vv | null;
  remoteVv: Vv;
  at: string;
  /** Set when the destination's database refused the remote row (the constraint and its detail); else concurrent writes. */
  reason?: string;
}

/** Lag of one table link origin → dest (this process's appliers). */
export interface TableLinkLag {
  origin: string;
  dest: string;
  /** Source commit time → applied here, for the newest applied transaction (s). */
  seconds: number;
  applied: number;
}

/** Slot figures of one zone's decoder. */
export interface TableSlotLag {
  zone: string;
  /** WAL written that the slot has not confirmed (bytes). */
  lagBytes: number;
  /** WAL the slot keeps on disk (bytes). */
  retainedBytes: number;
}

export interface TableReplicationOptions {
  config: ReplicationTablesConfig;
  /** Zones this process runs (decoder and appliers each). */
  zones: readonly string[];
  /** Every zone of the topology (origins of the appliers). */
  allZones: readonly string[];
  log: Log;
  clock: Clock;
  ownership: (zone: string) => TableOwnership;
  /**
   * The shard map's changes (a watch; returns its cancel): the decoders then ship a write
   * committed before its zone lost the shard even when they decode it after the move.
   */
  shardChanges?: (listener: (c: ShardChange) => void) => () => void;
  logger?: Logger;
}

/** A failure that repeats is logged again at most this often (ms). */
const REPEAT_LOG_MS = 30_000;

/**
 * `replication.tables`: for each zone this process runs, startup checks, the side schema and
 * lock triggers, a decoder of the zone's database, and an applier per other zone.
 */
export class TableReplication {
  private readonly decoders = new Map<string, TableDecoder>();
  private readonly appliers: TableApplier[] = [];
  private readonly pools = new Map<string, pg.Pool>();
  private unwatch: (() => void) | undefined;
  readonly counters = { errors: 0 };

  constructor(private readonly o: TableReplicationOptions) {}

  url(zone: string): string {
    return zoneUrl(this.o.config.url, zone);
  }

  private pool(zone: string): pg.Pool {
    let p = this.pools.get(zone);
    if (!p) {
      p = new pg.Pool({ connectionString: this.url(zone), max: 2 });
      p.on('error', () => {});
      this.pools.set(zone, p);
    }
    return p;
  }

  /** Checks every local zone's database (and that the tables match across zones), then starts. */
  async start(): Promise<void> {
    const { config, zones, allZones, log, clock, logger } = this.o;
    const found: { zone: string; tables: ResolvedTable[] }[] = [];
    for (const zone of zones) {
      const db = this.pool(zone);
      try {
        await db.query('SELECT 1');
      } catch (e) {
        throw replicationErrors.ERR_REPL_TABLES_UNAVAILABLE(
          `replication.tables: zone ${zone}'s database (${redact(this.url(zone))}) cannot be reached: ${(e as Error).message}`,
          { cause: e },
        );
      }
      await checkWalLevel(db, zone);
      const tables = await checkTables(db, zone, config.tables);
      found.push({ zone, tables });
      for (const u of await uncheckedConstraints(db, tables))
        logger?.warn(
          { zone, table: u.table, constraint: u.constraint },
          `tables: ${zone}'s ${u.kind} constraint ${u.constraint} on ${u.table} is not checked when a change from another zone is applied ` +
            '(it is enforced by a trigger, and applies run with session_replication_role = replica, as PostgreSQL subscriptions do)' +
            (u.kind === 'foreign key' ? '' : '; make it non-deferrable to have it hold on applies'),
        );
    }
    for (const f of found.slice(1)) compareZones(found[0]!, f);
    const history = new OwnerHistory(clock);
    this.unwatch = this.o.shardChanges?.((c) => history.observe(c));
    const ownership = (zone: string): TableOwnership => {
      const o = this.o.ownership(zone);
      return o.ownedUntil || !this.unwatch ? o : { ...o, ownedUntil: (s, z) => history.ownedUntil(s, z) };
    };
    for (const { zone, tables } of found) {
      const db = this.pool(zone);
      await db.query(SIDE_SCHEMA_SQL);
      for (const t of tables) {
        await db.query(lockTriggerSql(t.schema, t.table, t.name, t.key));
        if (versionedByTrigger(t.columns, t.key))
          await db.query(versionTriggerSql(t.schema, t.table, t.name, t.key, zone));
      }
      // a failure that repeats (an apply the destination keeps refusing is retried every ~100 ms)
      // is logged when it first appears and then every 30 s with its count, not per retry
      const seen = new Map<string, { at: number; repeats: number }>();
      const events = {
        error: (e: unknown) => {
          this.counters.errors++;
          const pgErr = e as Error & { detail?: string; table?: string; constraint?: string };
          const message = `tables: ${pgErr.message}${pgErr.detail ? ` (${pgErr.detail})` : ''}`;
          const now = this.o.clock.now();
          const had = seen.get(message);
          if (had && now - had.at < REPEAT_LOG_MS) {
            had.repeats++;
            return;
          }
          const repeats = had?.repeats ?? 0;
          if (!had && seen.size >= 100) seen.clear();
          seen.set(message, { at: now, repeats: 0 });
          logger?.warn(
            {
              err: e,
              zone,
              ...(pgErr.table ? { table: pgErr.table } : {}),
              ...(pgErr.constraint ? { constraint: pgErr.constraint } : {}),
              ...(repeats ? { repeatedSinceLast: repeats } : {}),
            },
            message,
          );
        },
      };
      const url = this.url(zone);
      for (const origin of allZones) {
        if (origin === zone) continue;
        const a = new TableApplier({
          zone,
          origin,
          url,
          tables,
          log,
          clock,
          ...(config.refusedAfterMs === 'never' ? {} : { refusedAfterMs: config.refusedAfterMs }),
          events: {
            ...events,
            refused: (table, key, origin, id, e) =>
              logger?.warn(
                { zone, table, key, origin, conflict: id, constraint: (e as { constraint?: string }).constraint },
                `tables: ${zone}'s database refused ${table} key ${key} from ${origin} (${(e as Error).message}); held as conflict ${id}, the key locked in ${zone} — resolve it with multizone conflicts`,
              ),
          },
        });
        await a.start();
        this.appliers.push(a);
      }
      const d = new TableDecoder({
        zone,
        url,
        tables,
        log,
        clock,
        ownership: ownership(zone),
        batchMax: config.batchMax,
        dests: allZones.filter((z) => z !== zone),
        appliedUpTo: (seq) =>
          Promise.all(this.appliers.filter((a) => a.origin === zone).map((a) => a.appliedUpTo(seq))).then(() => {}),
        ...(logger ? { logger } : {}),
        events: {
          ...events,
          misrouted: (table, key, shard, owner) =>
            logger?.warn({ zone, table, key, shard, owner }, 'tables: misrouted write (not replicated)'),
        },
      });
      await d.start();
      this.decoders.set(zone, d);
    }
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    for (const d of this.decoders.values()) await d.stop();
    for (const a of this.appliers) await a.stop();
    for (const p of this.pools.values()) await p.end().catch(() => {});
    this.decoders.clear();
    this.appliers.length = 0;
    this.pools.clear();
  }

  decoder(zone: string): TableDecoder | undefined {
    return this.decoders.get(zone);
  }

  applierList(): readonly TableApplier[] {
    return this.appliers;
  }

  /** Per link: seconds from the source commit of the newest applied change to its apply. */
  links(): TableLinkLag[] {
    return this.appliers.map((a) => {
      const l = a.lastApplied;
      return {
        origin: a.origin,
        dest: a.zone,
        seconds: l.time > 0 ? Math.max(0, (l.at - l.time) / 1000) : 0,
        applied: a.counters.rows,
      };
    });
  }

  /** Per local zone: the slot's unconfirmed and retained WAL. */
  async slots(): Promise<TableSlotLag[]> {
    const out: TableSlotLag[] = [];
    for (const [zone, d] of this.decoders) {
      const r = await this.pool(zone).query<{ lag: string | null; kept: string | null }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag,
                pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS kept
           FROM pg_replication_slots WHERE slot_name = $1`,
        [d.slot],
      );
      const row = r.rows[0];
      out.push({ zone, lagBytes: Number(row?.lag ?? 0), retainedBytes: Number(row?.kept ?? 0) });
    }
    return out;
  }

  counts(): {
    shipped: number;
    applied: number;
    conflicts: number;
    settled: number;
    /** Of conflicts: changes a zone's database refused, held as conflicts. */
    refused: number;
    misrouted: number;
    errors: number;
  } {
    let shipped = 0;
    let misrouted = 0;
    for (const d of this.decoders.values()) {
      shipped += d.counters.shippedRows;
      misrouted += d.counters.misrouted;
    }
    let applied = 0;
    let conflicts = 0;
    let settled = 0;
    let refused = 0;
    for (const a of this.appliers) {
      applied += a.counters.rows;
      conflicts += a.counters.conflicts;
      settled += a.counters.settled;
      refused += a.counters.refused;
    }
    return { shipped, applied, conflicts, settled, refused, misrouted, errors: this.counters.errors };
  }

  /** Open table conflicts of this process's zones. */
  async conflicts(): Promise<TableConflict[]> {
    const out: TableConflict[] = [];
    for (const zone of this.decoders.keys()) {
      const r = await this.pool(zone).query(
        `SELECT id::text, tbl, key, origin, local_row, remote_row, local_vv, remote_vv, at::text, reason
           FROM ${SIDE_SCHEMA}.table_conflicts WHERE resolved_at IS NULL ORDER BY id`,
      );
      for (const c of r.rows)
        out.push({
          id: `table:${zone}:${c.id}`,
          zone,
          table: c.tbl,
          key: c.key,
          origin: c.origin,
          local: c.local_row,
          remote: c.remote_row,
          localVv: c.local_vv,
          remoteVv: c.remote_vv,
          at: c.at,
          ...(c.reason ? { reason: c.reason } : {}),
        });
    }
    return out;
  }

  /**
   * `multizone conflicts resolve --all --pick-zone P` for table conflicts: each locked key is
   * resolved once, in zone P, by P's row (resolve(), which writes it as a new local write
   * whose version includes every candidate's; it replicates and unlocks the key everywhere).
   * The key's conflicts in other zones are reported resolved with it. A key P holds no
   * conflict of is skipped (P's write is not one of its candidates), as is every key when P
   * runs in another process: that process resolves it, so one key gets one resolution, never
   * two concurrent ones. `table` filters by table name; `ids` by conflict id.
   */
  async resolveAll(req: {
    pickZone: string;
    table?: string;
    ids?: readonly string[];
    dryRun?: boolean;
  }): Promise<{ resolved: string[]; skipped: { id: string; reason: string; code?: string }[] }> {
    const { pickZone, table, dryRun = false } = req;
    const only = req.ids ? new Set(req.ids) : undefined;
    const byKey = new Map<string, TableConflict[]>();
    for (const c of await this.conflicts()) {
      if ((table !== undefined && c.table !== table) || (only && !only.has(c.id))) continue;
      const k = `${c.table}\u0000${c.key}`;
      byKey.set(k, [...(byKey.get(k) ?? []), c]);
    }
    const out: { resolved: string[]; skipped: { id: string; reason: string; code?: string }[] } = {
      resolved: [],
      skipped: [],
    };
    for (const list of byKey.values()) {
      const inPick = list.find((c) => c.zone === pickZone);
      if (!inPick) {
        const reason = this.decoders.has(pickZone)
          ? `${pickZone} holds no conflict of ${list[0]!.table} key ${list[0]!.key}: its row is no candidate`
          : `${pickZone} runs in another process, which resolves ${list[0]!.table} key ${list[0]!.key}`;
        for (const c of list) out.skipped.push({ id: c.id, reason });
        continue;
      }
      try {
        if (!dryRun) await this.resolve(inPick.id, pickZone);
        for (const c of list) out.resolved.push(c.id);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        for (const c of list)
          out.skipped.push({ id: c.id, reason: (e as Error).message, ...(typeof code === 'string' ? { code } : {}) });
      }
    }
    out.resolved.sort();
    return out;
  }

  /**
   * Resolves a table conflict (`table:<zone>:<id>`) by one zone's row: `pick` is the zone
   * holding it (its local row) or the candidate's origin zone. The picked row is written in
   * that zone as a new local write whose version includes every candidate's, so it replicates
   * and unlocks the key everywhere.
   */
  async resolve(id: string, pick: string): Promise<{ zone: string; table: string; key: string }> {
    const m = /^table:([a-z][a-z0-9-]*):(\d+)$/.exec(id);
    const zone = m?.[1];
    const d = zone ? this.decoders.get(zone) : undefined;
    if (!m || !zone || !d)
      throw replicationErrors.ERR_REPL_TABLES_CONFLICT_UNKNOWN(`no open table conflict ${id} in this process`);
    const c = await this.pool(zone).connect();
    try {
      await c.query('BEGIN');
      const r = await c.query(
        `SELECT tbl, key, origin, local_row, remote_row, local_vv, remote_vv, reason FROM ${SIDE_SCHEMA}.table_conflicts
          WHERE id = $1 AND resolved_at IS NULL FOR UPDATE`,
        [m[2]],
      );
      const row = r.rows[0];
      if (!row) throw replicationErrors.ERR_REPL_TABLES_CONFLICT_UNKNOWN(`no open table conflict ${id}`);
      const t = d.tables().find((x) => x.name === row.tbl);
      if (!t) throw replicationErrors.ERR_REPL_TABLES_CONFLICT_UNKNOWN(`table ${row.tbl} is no longer replicated`);
      const all = await c.query<{ origin: string; remote_row: unknown; remote_vv: Vv; reason: string | null }>(
        `SELECT origin, remote_row, remote_vv, reason FROM ${SIDE_SCHEMA}.table_conflicts
          WHERE tbl = $1 AND key = $2 AND resolved_at IS NULL ORDER BY id`,
        [row.tbl, row.key],
      );
      let picked: unknown;
      /** The pick saw every other candidate and the local row: written as its applier would have. */
      let successor = false;
      if (pick === zone) {
        picked = row.local_row;
      } else {
        // a zone's newest candidate (a refused row's origin may have written the key again since)
        const cand = all.rows.filter((x) => x.origin === pick).at(-1);
        if (!cand)
          throw replicationErrors.ERR_REPL_PICK_ZONE_UNKNOWN(
            `conflict ${id} has no candidate from ${pick} (zones: ${[zone, ...all.rows.map((x) => x.origin)].join(', ')})`,
          );
        picked = cand.remote_row;
        successor =
          dominates(cand.remote_vv, row.local_vv ?? {}) &&
          all.rows.every((x) => dominates(cand.remote_vv, x.remote_vv));
      }
      // the version the resolution starts from includes every candidate's, and one more write of
      // this zone: it dominates them all strictly, also a deletion that no trigger versions
      let vv: Vv = row.local_vv ?? {};
      for (const x of all.rows) vv = vvMerge(vv, x.remote_vv);
      if (!successor) vv = { ...vv, [zone]: (vv[zone] ?? 0) + 1 };
      const T = qname(t.schema, t.table);
      // A successor (a row this database refused, not a concurrent write) is written as the
      // applier would have written it — without the app's triggers or a new version of this
      // zone — and not shipped (the origin holds it already), so this zone ends as the origin
      // is. Else the pick is written as a new local write whose version dominates every
      // candidate, and it replicates.
      if (successor) await c.query('SET LOCAL session_replication_role = replica');
      await c.query(`DELETE FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = $1 AND key = $2`, [row.tbl, row.key]);
      await c.query(
        `UPDATE ${SIDE_SCHEMA}.table_conflicts SET resolved_at = now(), resolved_by = $3 WHERE tbl = $1 AND key = $2 AND resolved_at IS NULL`,
        [row.tbl, row.key, `pick:${pick}`],
      );
      // (inserted when the key has no version here: a refused row's key this zone never wrote)
      await c.query(
        `INSERT INTO ${SIDE_SCHEMA}.table_versions AS v (tbl, key, vv, row_xid)
         VALUES ($1, $2, $3, CASE WHEN $4 THEN (txid_current() % 4294967296)::text::xid END)
         ON CONFLICT (tbl, key) DO UPDATE SET vv = EXCLUDED.vv, row_xid = CASE WHEN $4 THEN EXCLUDED.row_xid ELSE v.row_xid END`,
        [row.tbl, row.key, JSON.stringify(vv), successor],
      );
      const keyCols = t.key.map((k) => `"${k}"`);
      // the key's columns from a row of the conflict (the key text joins them with ':', which a
      // text key may itself contain); one key column is the whole text
      const sample = (row.local_row ?? all.rows.find((x) => x.remote_row)?.remote_row) as Record<
        string,
        unknown
      > | null;
      const keyRow = Object.fromEntries(
        t.key.map((k, i) => [k, sample ? sample[k] : t.key.length === 1 ? row.key : row.key.split(':')[i]]),
      );
      if (picked) {
        // rewrite the row (even unchanged) so the decoder ships it as a new local write (not a successor)
        const nonKey = updatedColumns(t);
        const cols = insertColumns(t.columns, 'd');
        const set = nonKey.length
          ? `DO UPDATE SET (${nonKey.map((n) => `"${n}"`).join(', ')}) = ROW(${nonKey.map((n) => `EXCLUDED."${n}"`).join(', ')})`
          : 'DO NOTHING';
        await c.query(
          `INSERT INTO ${T} ${cols.into} SELECT ${cols.from} FROM jsonb_populate_record(NULL::${T}, $1::jsonb) AS d ON CONFLICT (${keyCols.join(', ')}) ${set}`,
          [JSON.stringify(picked)],
        );
      } else {
        await c.query(
          `DELETE FROM ${T} AS t USING jsonb_populate_record(NULL::${T}, $1::jsonb) AS d
            WHERE ${keyEquals(t.key, 't', 'd')}`,
          [JSON.stringify(keyRow)],
        );
      }
      // A resolution replicates even from a zone that no longer owns the key's shard (after a
      // failover), and a deletion of a row this zone no longer has (it deleted it itself: the
      // conflict's other side) still reaches the others: the message names the key to delete.
      // A successor is not shipped at all.
      await c.query('SELECT pg_logical_emit_message(true, $1, $2)', [
        successor ? APPLIED_MESSAGE : RESOLUTION_MESSAGE,
        JSON.stringify({ table: row.tbl, key: row.key, ...(picked ? {} : { delete: keyRow }) }),
      ]);
      await c.query('COMMIT');
      return { zone, table: row.tbl, key: row.key };
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      if (refusedByDestination(e)) {
        const pgErr = e as Error & { detail?: string };
        throw replicationErrors.ERR_REPL_TABLES_REFUSED(
          `conflict ${id}: ${zone}'s database refuses the row picked (${pgErr.message}${pgErr.detail ? `: ${pgErr.detail}` : ''}); free the constraint there and resolve again`,
          { cause: e },
        );
      }
      throw e;
    } finally {
      c.release();
    }
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
