import type { Clock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { type Kv, shardmapErrors } from '../shardmap/index.ts';

/** One line of the audit log: a verdict, a move, a drain, a drill action. */
export interface AuditEntry {
  seq: number;
  /** Wall ms. */
  at: number;
  action: 'verdict' | 'move' | 'drain' | 'undrain' | 'failover' | 'failback' | 'drill' | 'error';
  zone?: string;
  /** For moves: [shard, newEpoch] pairs ('global' for the global pseudo-shard). */
  shards?: [number | 'global', number][];
  from?: string;
  to?: string;
  /** For fenced moves: writes start at the new owner at this wall ms. */
  notBefore?: number;
  reason?: string;
  [k: string]: unknown;
}

/** Kv gets `list` keeps in flight. */
const AUDIT_READS_IN_FLIGHT = 16;

/**
 * Entries the Kv keeps: appending entry n deletes entry n − AUDIT_KEEP. A drill or an outage
 * writes tens; a thousand is weeks of an operator's history while every process's `list`
 * (a key listing, then a get per entry) stays bounded — the log lines keep the rest.
 */
export const AUDIT_KEEP = 1000;

const auditKey = (seq: number): string => `audit.${String(seq).padStart(10, '0')}`;

/** The audit log in the Kv (`audit.<seq>`), so every process and the drill read the same history. */
export class AuditLog {
  private next: number | undefined;

  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    /** Each appended entry is also logged, one line an operator reads (`describeAudit`). */
    private readonly logger?: Logger,
  ) {}

  /** Appends an entry; concurrent writers never overwrite each other (CAS create). */
  async append(e: Omit<AuditEntry, 'seq' | 'at'>): Promise<AuditEntry> {
    if (this.next === undefined) {
      const keys = await this.kv.keys('audit.');
      const last = keys.length ? Number(keys[keys.length - 1]!.slice(6)) : 0;
      this.next = last + 1;
      // a history written before the bound (or by a process that died mid-trim) is trimmed once
      for (const k of keys.slice(0, Math.max(0, keys.length - AUDIT_KEEP))) await this.trim(k);
    }
    for (let i = 0; i < 100; i++) {
      const seq = this.next++;
      const entry = { seq, at: this.clock.wallTime(), ...e } as AuditEntry;
      try {
        await this.kv.put(auditKey(seq), JSON.stringify(entry), { expect: 0 });
        this.logger?.info({ audit: entry }, describeAudit(entry));
        if (seq > AUDIT_KEEP) await this.trim(auditKey(seq - AUDIT_KEEP));
        return entry;
      } catch (err) {
        if (!hasCode(err, shardmapErrors.ERR_FAILOVER_KV_CONFLICT)) throw err;
      }
    }
    throw new Error('audit: could not find a free sequence number');
  }

  /** Deletes one old entry; best effort (another process may have trimmed it, the Kv may be away). */
  private async trim(key: string): Promise<void> {
    await this.kv.delete(key).catch(() => {});
  }

  /** Entries in order, the last `limit` of them, only those after sequence number `after`. */
  async list(limit = 1000, after = 0): Promise<AuditEntry[]> {
    const keys = (await this.kv.keys('audit.')).filter((k) => Number(k.slice(6)) > after).slice(-limit);
    // a few gets in flight at once: one at a time costs a Kv round trip per entry, which over a
    // WAN link (the lab's 5 ms each way) made 115 entries take 2 s, past the drill's timeout
    const values: (string | null)[] = new Array(keys.length).fill(null);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < keys.length; i = next++) values[i] = (await this.kv.get(keys[i]!))?.value ?? null;
    };
    await Promise.all(Array.from({ length: Math.min(AUDIT_READS_IN_FLIGHT, keys.length) }, worker));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as AuditEntry);
  }
}

/** Wall ms as an ISO time of day (UTC, ms), for log lines. */
function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/**
 * An unplanned failover's verdict in words: who declared the zone down and what moved, e.g.
 * `bj-a declared down by 3 of 4 probers (sh-a, sh-b, gz-a); 256 shards moved to sh-a, sh-b, gz-a at epoch 7`
 * or `… declared down by the control plane's direct check; …`. The console says the same.
 */
export function declaredDown(e: AuditEntry): string {
  const by = e.declaredBy as { probers?: string[]; of?: number } | 'direct' | undefined;
  const who =
    by && by !== 'direct' && Array.isArray(by.probers)
      ? `${by.probers.length} of ${by.of ?? by.probers.length} probers (${by.probers.join(', ')})`
      : "the control plane's direct check";
  const m = e.moves as { shards?: number; global?: boolean; to?: string[]; epoch?: number } | undefined;
  const moved = m
    ? `; ${m.shards ?? 0} shards${m.global ? ' and the global writer' : ''} moved to ${(m.to ?? []).join(', ')} at epoch ${m.epoch ?? '?'}`
    : '';
  return `${e.zone ?? '?'} declared down by ${who}${moved}`;
}

/**
 * One line an operator reads in the log for an audit entry: what happened to which zone, and
 * why, e.g. `move: 64 shards gz-a → sh-b (term 2; writes from 20:49:01.234): zone down for ≥ 1000 ms`.
 */
export function describeAudit(e: AuditEntry): string {
  const term = typeof e.term === 'number' ? `term ${e.term}` : '';
  const why = e.reason ? `: ${e.reason}` : '';
  const zone = e.zone ?? '';
  switch (e.action) {
    case 'move': {
      const shards = (e.shards ?? []).filter(([s]) => s !== 'global').length;
      const global = (e.shards ?? []).some(([s]) => s === 'global') ? ' and the global writer' : '';
      const notes = [term, e.notBefore ? `writes from ${clockTime(e.notBefore)}` : ''].filter(Boolean).join('; ');
      return `move: ${shards} shards${global} ${e.from ?? '?'} → ${e.to ?? '?'}${notes ? ` (${notes})` : ''}${why}`;
    }
    case 'verdict':
      if (e.declaredBy) return `verdict: ${declaredDown(e)}${term ? ` (${term})` : ''}${why}`;
      return `verdict${zone ? ` ${zone}` : ''}${term ? ` (${term})` : ''}${why || (e.zones ? `: ${String(e.zones)}` : '')}`;
    case 'failover':
    case 'failback':
    case 'drain':
    case 'undrain': {
      const count = typeof e.count === 'number' ? ` (${e.count} shards)` : '';
      return `${e.action} ${zone}${count}${term ? ` ${term}` : ''}${why}`;
    }
    case 'drill':
      return `drill ${zone}: ${e.reason ?? ''}`;
    default:
      return `${e.action}${zone ? ` ${zone}` : ''}${why}`;
  }
}
