import pg from 'pg';
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';
import type { Clock, Timer } from '../../core/clock.ts';
import { retryUntil } from '../../core/deadline.ts';
import type { Logger } from '../../core/logger.ts';
import type { Change, ResourceClass } from '../../store/index.ts';
import type { Log, LogBatch } from '../log.ts';
import type { ResolvedTable } from './table-checks.ts';
import { shardOfRow, type TableOwnership } from './table-shard.ts';
import {
  APPLIED_MESSAGE,
  CHUNKS,
  lsnToNumber,
  numberToLsn,
  PUBLICATION,
  qname,
  RESOLUTION_MESSAGE,
  SIDE_SCHEMA,
  slotName,
  type Vv,
  versionedByTrigger,
} from './table-sql.ts';

/** Longest wait for this process's appliers before shipping the next batch anyway (ms). */
const FLOW_WAIT_MS = 200;
/** How often, with the in-process log, the decoder asks again whether shipped batches are applied durably everywhere. */
const CONFIRM_MS = 50;

/** A row change as it travels in `Change.value` on the log. */
export interface TableOp {
  op: 'upsert' | 'delete' | 'truncate';
  /** Upsert: the whole new row; delete: the old row (REPLICA IDENTITY FULL); values as PostgreSQL's text (json parsed). */
  row?: Record<string, unknown>;
  /** Part of a catch-up snapshot (applies where the row is missing or older). */
  snapshot?: boolean;
}

/** The log stream of a zone's table changes (beside the zone's store stream). */
export function tableStream(zone: string): string {
  return `${zone}_tables`;
}

/** Resource name of a table's changes on the log. */
export const tableResource = (name: string) => `table:${name}`;

/** Key text: the key columns' values joined by `:` (as the lock trigger computes it). */
export function keyOf(t: ResolvedTable, row: Record<string, unknown>): string {
  return t.key.map((c) => textOf(row[c])).join(':');
}

function textOf(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface DecoderEvents {
  shipped?(batch: LogBatch): void;
  misrouted?(table: string, key: string, shard: number, owner: string): void;
  error?(e: unknown): void;
}

export interface TableDecoderOptions {
  zone: string;
  /** The zone's application database. */
  url: string;
  tables: readonly ResolvedTable[];
  log: Log;
  clock: Clock;
  ownership: TableOwnership;
  batchMax: number;
  /**
   * Resolves when the appliers this process runs have applied up to a shipped position (none:
   * at once). The decoder waits for it, up to FLOW_WAIT_MS, before shipping more: the
   * transactions that commit meanwhile then go as one batch, one destination transaction,
   * instead of a queue of small ones each paying a commit.
   */
  appliedUpTo?: (seq: number) => Promise<void>;
  /** The zones that apply this zone's changes (with the in-process log, the slot waits for them: see confirm()). */
  dests: readonly string[];
  logger?: Logger;
  events?: DecoderEvents;
}

interface Pending {
  table: ResolvedTable;
  key: string;
  op: TableOp;
  /** The source transaction's id (the row's xmin after it), when decoded. */
  xid?: number;
  /** The version the version trigger gave the row in the same transaction (read from the WAL). */
  vv?: Vv;
}

interface Txn {
  xid: number;
  lsn: number;
  endLsn: string;
  time: number;
  ops: Pending[];
  /** Version rows the transaction wrote (the version trigger's), by table and key: the last stands. */
  versions?: Map<string, Vv>;
  /** A conflict's resolution (it carries RESOLUTION_MESSAGE): shipped whoever owns the shards. */
  resolution?: boolean;
}

/**
 * Reads one zone's database by logical decoding (pgoutput through the zone's slot) and puts
 * its row changes on the log, one batch per source transaction (several when they queue up
 * behind an append in flight; a large one split into chunks of batchMax). Transactions an
 * applier wrote (they carry a replication origin) are skipped: no loops. The slot's position
 * moves only after the log holds the batch, so a crash re-decodes and re-ships (the
 * destinations skip by position).
 */
export class TableDecoder {
  private service: LogicalReplicationService | undefined;
  private db: pg.Client | undefined;
  private txn: Txn | undefined;
  private txnFromOrigin = false;
  private readonly queue: Txn[] = [];
  /** End LSN of the newest transaction (shipped or skipped) whose predecessors are all on the log. */
  private ackLsn: string | undefined;
  private shipping: Promise<void> | undefined;
  /** Shipped positions the slot does not confirm yet (the in-process log: see confirm()), oldest first. */
  private unconfirmed: { to: number; endLsn: string }[] = [];
  private confirmTimer: Timer | undefined;
  private running = false;
  private readonly byRel = new Map<string, ResolvedTable>();
  /** Tables whose rows the version trigger versions (the others are versioned here, a round trip per shipment). */
  private readonly triggerVersioned = new Set<ResolvedTable>();
  /** Wall time and position of the newest shipped transaction. */
  lastShipped = { seq: 0, time: 0 };
  readonly counters = {
    shippedRows: 0,
    misrouted: 0,
    skippedApplied: 0,
    snapshotRows: 0,
    errors: 0,
    reconnects: 0,
    /** Rows versioned by this decoder's statement (snapshot rows, tables the version trigger does not cover). */
    versionedHere: 0,
  };

  constructor(private readonly o: TableDecoderOptions) {
    for (const t of o.tables) {
      this.byRel.set(`${t.schema}.${t.table}`, t);
      if (versionedByTrigger(t.columns, t.key)) this.triggerVersioned.add(t);
    }
  }

  /** The tables this decoder reads. */
  tables(): readonly ResolvedTable[] {
    return this.o.tables;
  }

  private slotId = '';

  /** The decoder's replication slot (named after the zone's database). */
  get slot(): string {
    return this.slotId;
  }

  /** Creates the publication and the slot if missing (then a snapshot first) and starts streaming. */
  async start(): Promise<void> {
    this.running = true;
    await this.open();
  }

  private async open(): Promise<void> {
    // the stream starts again at the slot's confirmed position: whatever was shipped after it
    // is decoded and shipped again, and confirmed then
    this.unconfirmed = [];
    const db = new pg.Client({ connectionString: this.o.url });
    await db.connect();
    db.on('error', (e) => this.lost(e, db));
    try {
      // the version rows this session writes may be lost in a crash without harm (see version())
      await db.query("SET TimeZone = 'UTC'; SET synchronous_commit = off");
      this.slotId = slotName((await db.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d);
      await this.ensurePublication(db);
      const slot = await db.query<{ wal_status: string | null }>(
        'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
        [this.slot],
      );
      let snapshot = false;
      if (slot.rows[0]?.wal_status === 'lost') {
        // fell behind max_slot_wal_keep_size: its changes are gone; start over with a snapshot
        this.o.logger?.warn({ zone: this.o.zone, slot: this.slot }, 'tables: slot lost its WAL; catch-up snapshot');
        await db.query('SELECT pg_drop_replication_slot($1)', [this.slot]);
        snapshot = true;
      } else if (!slot.rows[0]) snapshot = true;
      if (snapshot) {
        const r = await db.query<{ lsn: string }>(
          "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
          [this.slot],
        );
        // rows committed after the slot's start are both in the snapshot and in the stream: the
        // stream's versions dominate, so applying both is harmless
        await this.snapshot(db, lsnToNumber(r.rows[0]!.lsn));
      }
    } catch (e) {
      await db.end().catch(() => {});
      throw e;
    }
    this.db = db;
    const plugin = new TextPgoutput({ protoVersion: 1, publicationNames: [PUBLICATION], messages: true });
    // a new service each time: a service subscribed again starts after the last position it
    // received, which would skip what was decoded but not shipped
    const svc = new LogicalReplicationService(
      { connectionString: this.o.url },
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    );
    svc.on('data', (lsn: string, m: Pgoutput.Message) => this.onMessage(lsn, m));
    svc.on('heartbeat', (_lsn: string, _t: number, respond: boolean) => {
      if (respond) void svc.acknowledge(this.ackLsn ?? '0/0');
    });
    svc.on('error', (e: Error) => this.lost(e, db));
    this.service = svc;
    svc.subscribe(plugin, this.slot).then(
      // the stream ended without an error (the server shut down): connect again
      () => this.lost(new Error(`tables: ${this.o.zone}'s decoding stream ended`), db),
      (e: unknown) => this.lost(e, db),
    );
    this.kick(); // a snapshot waiting to ship
  }

  /** Connecting again after the database connection or the stream failed. */
  private reconnecting: Promise<void> | undefined;

  /**
   * The stream or the connection failed (a restart of the database, a terminated backend):
   * drop what was decoded but not shipped — the slot hands it out again, as it was not
   * acknowledged — and connect again until it works.
   */
  private lost(e: unknown, db: pg.Client): void {
    if (!this.running || this.db !== db || this.reconnecting) return;
    this.counters.errors++;
    this.o.events?.error?.(e);
    this.reconnecting = (async () => {
      this.db = undefined;
      const svc = this.service;
      this.service = undefined;
      await svc?.destroy().catch(() => {});
      await this.shipping;
      this.queue.length = 0;
      this.txn = undefined;
      await db.end().catch(() => {});
      const ok = await retryUntil(
        this.o.clock,
        () => this.running,
        () => this.open(),
        (err) => this.o.events?.error?.(err),
      );
      if (ok) this.counters.reconnects++;
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  /** Stops streaming; what was not shipped is decoded again next time. */
  async stop(): Promise<void> {
    this.running = false;
    await this.reconnecting;
    await this.shipping;
    this.confirmTimer?.cancel();
    this.confirmTimer = undefined;
    await this.service?.destroy();
    await this.db?.end().catch(() => {});
  }

  private async ensurePublication(db: pg.Client): Promise<void> {
    // the version rows too: a write's version is decoded with it, in its transaction
    const list = [...this.o.tables.map((t) => qname(t.schema, t.table)), `${SIDE_SCHEMA}.table_versions`].join(', ');
    const has = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [PUBLICATION]);
    if (has.rowCount === 0) await db.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${list}`);
    else await db.query(`ALTER PUBLICATION ${PUBLICATION} SET TABLE ${list}`);
  }

  /** Every row of every table, as upserts (a catch-up after a new or lost slot). */
  private async snapshot(db: pg.Client, lsn: number): Promise<void> {
    const ops: Pending[] = [];
    for (const t of this.o.tables) {
      if (t.config.class === 'local') continue;
      const r = await db.query<{ row: Record<string, unknown>; xid: string }>(
        `SELECT to_jsonb(t) AS row, t.xmin::text AS xid FROM ${qname(t.schema, t.table)} t`,
      );
      for (const { row, xid } of r.rows) {
        const text = textRow(t, row);
        ops.push({ table: t, key: keyOf(t, text), op: { op: 'upsert', row: text, snapshot: true }, xid: Number(xid) });
      }
    }
    this.counters.snapshotRows += ops.length;
    if (ops.length > 0) this.queue.push({ xid: 0, lsn, endLsn: numberToLsn(lsn), time: this.o.clock.wallTime(), ops });
  }

  /**
   * A conflict's resolution (RESOLUTION_MESSAGE, JSON `{table, key, delete?}`): its
   * transaction is shipped whoever owns the shard, and a resolution by a deletion ships the
   * delete of the key even when this zone had no row left to delete.
   */
  private resolution(txn: Txn, content: Uint8Array): void {
    txn.resolution = true;
    let r: { table?: unknown; key?: unknown; delete?: unknown };
    try {
      r = JSON.parse(Buffer.from(content).toString('utf8'));
    } catch {
      return;
    }
    const t = this.o.tables.find((x) => x.name === r.table);
    if (t && typeof r.key === 'string' && r.delete && typeof r.delete === 'object')
      txn.ops.push({ table: t, key: r.key, op: { op: 'delete', row: r.delete as Record<string, unknown> } });
  }

  private onMessage(lsn: string, m: Pgoutput.Message): void {
    switch (m.tag) {
      case 'begin':
        this.txn = {
          xid: m.xid,
          lsn: lsnToNumber(m.commitLsn ?? lsn),
          endLsn: lsn,
          time: Number(m.commitTime) / 1000,
          ops: [],
        };
        this.txnFromOrigin = false;
        return;
      case 'origin':
        // written by an applier (under a replication origin): not shipped again
        this.txnFromOrigin = true;
        return;
      case 'message':
        if (!m.transactional || !this.txn) return;
        if (m.prefix === APPLIED_MESSAGE) {
          // the whole transaction, also the changes decoded before the message
          this.txnFromOrigin = true;
          this.txn.ops.length = 0;
        } else if (m.prefix === RESOLUTION_MESSAGE && !this.txnFromOrigin) this.resolution(this.txn, m.content);
        return;
      case 'insert':
      case 'update': {
        if (m.relation.schema === SIDE_SCHEMA && m.relation.name === 'table_versions') {
          if (!this.txn || this.txnFromOrigin) return;
          const v = m.new as { tbl: string; key: string; vv: string };
          this.txn.versions ??= new Map();
          this.txn.versions.set(`${v.tbl}\u0000${v.key}`, JSON.parse(v.vv) as Vv);
          return;
        }
        const t = this.tableOf(m.relation);
        if (!t || !this.txn || this.txnFromOrigin) return;
        const row = jsonColumns(t, m.new);
        this.txn.ops.push({ table: t, key: keyOf(t, row), op: { op: 'upsert', row } });
        if (m.tag === 'update' && m.old) {
          const old = jsonColumns(t, m.old);
          const oldKey = keyOf(t, old);
          // a key change is a delete of the old key and an insert of the new one
          if (oldKey !== keyOf(t, row))
            this.txn.ops.splice(-1, 0, { table: t, key: oldKey, op: { op: 'delete', row: old } });
        }
        return;
      }
      case 'delete': {
        const t = this.tableOf(m.relation);
        const old = m.old ?? m.key;
        if (!t || !this.txn || this.txnFromOrigin || !old) return;
        const row = jsonColumns(t, old);
        this.txn.ops.push({ table: t, key: keyOf(t, row), op: { op: 'delete', row } });
        return;
      }
      case 'truncate': {
        if (!this.txn || this.txnFromOrigin) return;
        for (const rel of m.relations) {
          const t = this.tableOf(rel);
          if (t) this.txn.ops.push({ table: t, key: '', op: { op: 'truncate' } });
        }
        return;
      }
      case 'commit': {
        const txn = this.txn;
        this.txn = undefined;
        if (!txn) return;
        txn.endLsn = m.commitEndLsn ?? lsn;
        for (const p of txn.ops) {
          p.xid = txn.xid;
          const vv = this.triggerVersioned.has(p.table)
            ? txn.versions?.get(`${p.table.name}\u0000${p.key}`)
            : undefined;
          if (vv) p.vv = vv;
        }
        if (this.txnFromOrigin) this.counters.skippedApplied++;
        if (txn.ops.length === 0 && this.queue.length === 0 && !this.shipping) {
          // nothing to ship (an applier's transaction, this decoder's own version rows) and
          // everything before it is on the log: no shipping round for it
          this.passed(txn.endLsn);
          return;
        }
        // flush at once: no timer; transactions that commit while an append is in flight go together next
        this.queue.push(txn);
        this.kick();
        return;
      }
      default:
        return;
    }
  }

  private tableOf(rel: Pgoutput.MessageRelation): ResolvedTable | undefined {
    const t = this.byRel.get(`${rel.schema}.${rel.name}`);
    return t && t.config.class !== 'local' ? t : undefined;
  }

  private kick(): void {
    if (this.shipping || !this.running) return;
    const p = this.shipLoop().finally(() => {
      if (this.shipping === p) this.shipping = undefined;
    });
    this.shipping = p;
  }

  private async shipLoop(): Promise<void> {
    while (this.running && this.db && this.queue.length > 0) {
      const txns = this.queue.splice(0, this.queue.length);
      try {
        await this.ship(txns);
      } catch (e) {
        // put them back and try again shortly: order is kept, nothing is acknowledged
        this.queue.unshift(...txns);
        this.counters.errors++;
        this.o.events?.error?.(e);
        await this.o.clock.sleep(200);
      }
    }
  }

  private async ship(txns: Txn[]): Promise<void> {
    const { zone, batchMax, log } = this.o;
    // one source transaction → chunks of at most batchMax changes, each with its own position
    const chunks: { seq: number; time: number; ops: Pending[] }[] = [];
    for (const txn of txns) {
      const ops = this.owned(collapse(txn.ops), txn);
      for (let i = 0, c = 0; i < ops.length; c++) {
        const last = c === CHUNKS - 1;
        const part = last ? ops.slice(i) : ops.slice(i, i + batchMax);
        chunks.push({ seq: txn.lsn * CHUNKS + c, time: txn.time, ops: part });
        i += part.length;
      }
    }
    // versioned by the trigger in their transaction, or here (snapshot rows, tables it does not cover)
    const all = chunks.flatMap((c) => c.ops.map((op) => ({ p: op, seq: c.seq })));
    const rest = all.filter((x) => !x.p.vv || x.p.op.snapshot);
    const found = rest.length > 0 ? await this.version(rest) : [];
    this.counters.versionedHere += rest.length;
    const versions = all.map((x) => (x.p.vv && !x.p.op.snapshot ? x.p.vv : undefined));
    for (let i = 0, j = 0; i < all.length; i++) if (versions[i] === undefined) versions[i] = found[j++];
    let v = 0;
    // group whole chunks into batches of about batchMax changes
    let cur: { from: number; to: number; changes: Change[] } | undefined;
    const batches: (typeof cur & object)[] = [];
    for (const ch of chunks) {
      if (!cur || cur.changes.length + ch.ops.length > batchMax) {
        cur = { from: ch.seq, to: ch.seq, changes: [] };
        batches.push(cur);
      }
      cur.to = ch.seq;
      for (const p of ch.ops) cur.changes.push(this.change(p, ch.seq, ch.time, versions[v++]));
    }
    for (const b of batches) {
      const batch: LogBatch = { origin: tableStream(zone), ...b, sentAt: this.o.clock.wallTime() };
      await log.append(batch);
      this.counters.shippedRows += b.changes.length;
      this.o.events?.shipped?.(batch);
    }
    const last = txns[txns.length - 1]!;
    if (chunks.length > 0) {
      const c = chunks[chunks.length - 1]!;
      this.lastShipped = { seq: c.seq, time: c.time };
    }
    const top = batches[batches.length - 1];
    if (log.kind !== 'memory') {
      // the log holds the batches durably: the slot may forget them
      this.ackLsn = last.endLsn;
      await this.service?.acknowledge(last.endLsn);
    } else if (top) {
      this.unconfirmed.push({ to: top.to, endLsn: last.endLsn });
      await this.confirm();
    } else this.passed(last.endLsn);
    if (top && this.o.appliedUpTo) {
      let timer: Timer | undefined;
      await Promise.race([
        this.o.appliedUpTo(top.to),
        new Promise<void>((done) => {
          timer = this.o.clock.setTimer(FLOW_WAIT_MS, done);
        }),
      ]);
      timer?.cancel();
    }
  }

  /**
   * The stream passed `endLsn` with nothing more shipped: the slot may confirm it as soon as
   * what was shipped before it (with the in-process log, the newest unconfirmed position).
   */
  private passed(endLsn: string): void {
    const tail = this.unconfirmed[this.unconfirmed.length - 1];
    if (tail) tail.endLsn = endLsn;
    else this.ackLsn = endLsn;
  }

  /**
   * The in-process log loses every batch it holds with the process, so the slot confirms a
   * shipped position only once every destination has applied it durably (the log's
   * acknowledged position: after the destination's commit is flushed): a restarted process
   * decodes and ships again what was not, and the destinations skip what they hold. Asked
   * after each shipping round and every CONFIRM_MS while something waits.
   */
  private async confirm(): Promise<void> {
    let min = Number.POSITIVE_INFINITY;
    for (const d of this.o.dests) min = Math.min(min, (await this.o.log.ackedUpTo(tableStream(this.o.zone), d)) ?? 0);
    let lsn: string | undefined;
    while (this.unconfirmed.length > 0 && this.unconfirmed[0]!.to <= min) {
      const e = this.unconfirmed.shift()!;
      // never backwards (a stream started again ships older positions after newer ones)
      if (lsn === undefined || lsnToNumber(e.endLsn) > lsnToNumber(lsn)) lsn = e.endLsn;
    }
    if (lsn !== undefined && (this.ackLsn === undefined || lsnToNumber(lsn) > lsnToNumber(this.ackLsn))) {
      this.ackLsn = lsn;
      await this.service?.acknowledge(lsn);
    }
    if (this.unconfirmed.length > 0 && !this.confirmTimer && this.running)
      this.confirmTimer = this.o.clock.setTimer(CONFIRM_MS, () => {
        this.confirmTimer = undefined;
        void this.confirm().catch((e: unknown) => this.o.events?.error?.(e));
      });
  }

  private change(p: Pending, seq: number, time: number, vv: Vv | undefined): Change {
    const cls = p.table.config.class as ResourceClass;
    return {
      seq,
      origin: this.o.zone,
      shard: p.op.op === 'truncate' ? 0 : shardOfRow(p.table, p.key, p.op.row ?? {}, this.o.ownership),
      epoch: 0,
      cls,
      resource: `table:${p.table.name}`,
      key: p.key,
      value: p.op,
      deleted: p.op.op === 'delete',
      vv: vv ?? {},
      version: 0,
      time,
    };
  }

  /**
   * Drops (counts and records) changes this zone did not own the shard of when their
   * transaction committed: misrouted writes are never applied elsewhere.
   */
  private owned(ops: Pending[], txn: Txn): Pending[] {
    const { ownership, zone } = this.o;
    const out: Pending[] = [];
    const bad: { tbl: string; key: string; shard: number; owner: string; epoch: number; rj: unknown }[] = [];
    for (const p of ops) {
      if (p.op.op === 'truncate' || p.op.snapshot || txn.resolution) {
        out.push(p);
        continue;
      }
      const shard =
        p.table.config.class === 'global' ? 'global' : shardOfRow(p.table, p.key, p.op.row ?? {}, ownership);
      const owner = ownership.owner(shard);
      // owned when it committed: the shard may have moved since (decoding lags by ms; a restart by more)
      const until = owner.zone === zone ? undefined : ownership.ownedUntil?.(shard, zone);
      if (owner.zone === zone || (until !== undefined && txn.time <= until)) out.push(p);
      else {
        const s = shard === 'global' ? -1 : shard;
        bad.push({
          tbl: p.table.name,
          key: p.key,
          shard: s,
          owner: owner.zone,
          epoch: owner.epoch,
          rj: p.op.row ?? null,
        });
        this.counters.misrouted++;
        this.o.events?.misrouted?.(p.table.name, p.key, s, owner.zone);
      }
    }
    if (bad.length > 0 && this.db)
      this.db
        .query(
          `INSERT INTO ${SIDE_SCHEMA}.table_misrouted (tbl, key, shard, owner, epoch, row_data, lsn)
           SELECT x.tbl, x.key, x.shard, x.owner, x.epoch, x.rj, $2 FROM jsonb_to_recordset($1::jsonb)
             AS x(tbl text, key text, shard int, owner text, epoch int, rj jsonb)`,
          [JSON.stringify(bad), numberToLsn(txn.lsn)],
        )
        .catch((e: unknown) => this.o.events?.error?.(e));
    return out;
  }

  /**
   * This zone's version of each change: the row's vector in the side table (what this zone
   * had applied from others) with this zone's entry set to the change's log position, which
   * grows with every transaction, so no counter has to be read or kept durable. One statement
   * per table reads the vectors and writes them back with this zone's entry raised (the read
   * sees the rows as they were before it), so a change is versioned before it is shipped and
   * an applier never takes a shipped local write for a pending one. The session commits
   * asynchronously: a version row lost in a crash costs at most a conflict reported that was
   * not one, never a missed one.
   */
  private async version(ops: { p: Pending; seq: number }[]): Promise<(Vv | undefined)[]> {
    const out: (Vv | undefined)[] = new Array(ops.length);
    const byTable = new Map<ResolvedTable, number[]>();
    ops.forEach(({ p }, i) => {
      if (p.op.op === 'truncate') return;
      const l = byTable.get(p.table) ?? [];
      l.push(i);
      byTable.set(p.table, l);
    });
    const zone = this.o.zone;
    for (const [t, idx] of byTable) {
      // per key: the newest position, and the xid of the last change (the row's xmin after it; none when deleted)
      const perKey = new Map<string, { n: number; xid: string | null }>();
      for (const i of idx) {
        const { p, seq } = ops[i]!;
        const e = perKey.get(p.key) ?? { n: 0, xid: null };
        // a snapshot row keeps the version it has (it is no new write)
        e.n = Math.max(e.n, p.op.snapshot ? 0 : seq);
        e.xid = p.op.op === 'upsert' && p.xid ? String(p.xid) : null;
        perKey.set(p.key, e);
      }
      const arg = [...perKey].map(([key, e]) => ({ key, n: e.n, xid: e.xid }));
      // row_xid tells an applier whether the row changed since its version was taken (a local
      // write not decoded yet); a newer xid an applier stored meanwhile is kept
      const r = await this.db!.query<{ key: string; vv: Vv }>(
        // one index lookup per key (LATERAL … LIMIT 1), whatever the side table's statistics say
        `WITH cur AS (SELECT x.key, v.vv FROM jsonb_to_recordset($3::jsonb) AS x(key text)
                       JOIN LATERAL (SELECT v.vv FROM ${SIDE_SCHEMA}.table_versions v
                                      WHERE v.tbl = $1 AND v.key = x.key LIMIT 1) v ON true),
              w AS (INSERT INTO ${SIDE_SCHEMA}.table_versions AS v (tbl, key, vv, row_xid)
                    SELECT $1, x.key, jsonb_build_object($2::text, x.n), x.xid::xid
                      FROM jsonb_to_recordset($3::jsonb) AS x(key text, n bigint, xid text)
                    ON CONFLICT (tbl, key) DO UPDATE
                      SET vv = v.vv || jsonb_build_object($2::text, GREATEST(COALESCE((v.vv ->> $2)::bigint, 0), (EXCLUDED.vv ->> $2)::bigint)),
                          row_xid = CASE WHEN EXCLUDED.row_xid IS NULL OR v.row_xid IS NULL THEN EXCLUDED.row_xid
                                         WHEN age(v.row_xid) < age(EXCLUDED.row_xid) THEN v.row_xid
                                         ELSE EXCLUDED.row_xid END
                    RETURNING 1)
         SELECT key, vv FROM cur`,
        [t.name, zone, JSON.stringify(arg)],
      );
      const stored = new Map(r.rows.map((x) => [x.key, x.vv]));
      for (const i of idx) {
        const { p, seq } = ops[i]!;
        const vv = stored.get(p.key) ?? {};
        out[i] = p.op.snapshot ? vv : { ...vv, [zone]: Math.max(vv[zone] ?? 0, seq) };
      }
    }
    return out;
  }
}

/** Within one transaction, the last change of each key stands (a TRUNCATE keeps its place). */
function collapse(ops: Pending[]): Pending[] {
  const out: (Pending | undefined)[] = [];
  let at = new Map<string, number>();
  for (const p of ops) {
    if (p.op.op === 'truncate') {
      out.push(p);
      at = new Map();
      continue;
    }
    const k = `${p.table.name}\u0000${p.key}`;
    const prev = at.get(k);
    if (prev !== undefined) out[prev] = undefined;
    at.set(k, out.length);
    out.push(p);
  }
  return out.filter((p): p is Pending => p !== undefined);
}

/** json/jsonb columns travel as JSON (so the applier's jsonb_populate_record sees objects, not strings). */
function jsonColumns(t: ResolvedTable, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of t.columns) {
    const v = raw[c.name];
    if (v === undefined) continue;
    out[c.name] = v !== null && (c.type === 'json' || c.type === 'jsonb') ? JSON.parse(v as string) : v;
  }
  return out;
}

/** A row read as to_jsonb, in the decoder's shape: scalars as text, json columns as JSON. */
function textRow(t: ResolvedTable, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of t.columns) {
    const v = row[c.name];
    out[c.name] =
      v === null || v === undefined || c.type === 'json' || c.type === 'jsonb'
        ? (v ?? null)
        : typeof v === 'string'
          ? v
          : typeof v === 'object'
            ? JSON.stringify(v)
            : String(v);
  }
  return out;
}

/** pgoutput with every column kept as PostgreSQL's text (the applier casts it back exactly). */
class TextPgoutput extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const m = super.parse(buffer);
    if (m.tag === 'relation') for (const c of m.columns) c.parser = (raw: unknown) => raw;
    return m;
  }
}
