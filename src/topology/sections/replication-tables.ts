import { z } from 'zod';
import { zoneUrlSetting } from '../zone-url.ts';

const ident = z.string().regex(/^[a-z_][a-z0-9_$]*$/, 'must be a lowercase PostgreSQL identifier (letters, digits, _)');

/** A table name, `schema.table` or `table` (schema public). */
const tableName = z
  .string()
  .regex(
    /^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$/,
    'must be "table" or "schema.table" (lowercase PostgreSQL identifiers)',
  );

/** How a row's shard is derived: from a column's value, or from a pattern on the key. */
const shardFrom = z.union(
  [
    z
      .object({
        /** The column whose value is the sharding key (hashed like the router hashes user ids). */
        column: ident,
      })
      .strict(),
    z
      .object({
        /**
         * A regex over the key (one column's text, or the key columns joined by `:`) with a
         * named group, as in `shards.mappings`: `(?<shard>…)` carries the shard number,
         * `(?<key>…)` a sharding key to hash.
         */
        pattern: z.string().refine((p) => {
          try {
            new RegExp(p);
            return /\(\?<(shard|key)>/.test(p);
          } catch {
            return false;
          }
        }, 'must be a valid regex with a named group (?<shard>…) or (?<key>…)'),
      })
      .strict(),
  ],
  { errorMap: () => ({ message: 'must be { column: NAME } or { pattern: REGEX }' }) },
);

/** What replication does with concurrent writes to one row in two zones. */
const conflictPolicy = z.union(
  [
    z.literal('lock'),
    z
      .object({
        /** Last writer wins by this column (a number or a timestamp); ties go to the greater zone name. */
        lww: ident,
      })
      .strict(),
    z
      .object({
        /**
         * Per column: `max` or `min` of the two values; columns not named follow `lww` if set,
         * else the row of the greater zone name (both zones decide alike, so they converge).
         */
        merge: z.record(ident, z.enum(['max', 'min'])),
        lww: ident.optional(),
      })
      .strict(),
  ],
  { errorMap: () => ({ message: 'must be "lock", { lww: COLUMN } or { merge: { COLUMN: max|min }, lww?: COLUMN }' }) },
);

const tableSchema = z
  .object({
    /** `table` or `schema.table`; the same in every zone's database. */
    name: tableName,
    /** Key column(s); default: the table's primary key (checked at startup). */
    key: z.array(ident).min(1).optional(),
    /** global: the core zone writes; sharded: the shard's owner zone writes; local: not replicated. */
    class: z.enum(['global', 'sharded', 'local']).default('sharded'),
    /** Shard derivation (sharded tables); default: hash of the key. */
    shard: shardFrom.optional(),
    /** Conflict policy: `lock` (default: keep the local row, hold the other as a candidate, refuse writes to the key until resolved), `{ lww: COLUMN }`, `{ merge: … }`. */
    conflict: conflictPolicy.default('lock'),
  })
  .strict();

/** `replication.tables:` the app's own PostgreSQL tables, replicated by logical decoding (owned by src/replication). */
export const replicationTablesSection = z
  .object({
    /**
     * Each zone's application database: `{zone}` is the zone's name, `{zone_}` the name with
     * `_` for `-` (`postgres://app@db-{zone}/shop` or `postgres://postgres@127.0.0.1/shop_{zone_}`).
     */
    url: zoneUrlSetting('postgres://postgres@127.0.0.1:5432/app_{zone_}'),
    /** The tables to replicate. */
    tables: z.array(tableSchema).min(1),
    /** Most row changes per log batch; a larger source transaction is split. */
    batchMax: z.number().int().min(1).max(10_000).default(1000),
    /**
     * A change the destination's database refuses (a unique index, CHECK or NOT NULL
     * constraint: SQLSTATE class 23) holds its link this long, retried — the constraint may
     * free itself (a row another zone's link is bringing) —, then is held as a table conflict
     * (the key locked there, the refused row its candidate) and the link goes on. `never`:
     * hold the link until the row applies, as PostgreSQL's own subscription does.
     */
    refusedAfterMs: z.union([z.number().int().min(0).max(86_400_000), z.literal('never')]).default(5000),
  })
  .strict()
  .optional();

export type ReplicationTablesConfig = NonNullable<z.output<typeof replicationTablesSection>>;
export type ReplicatedTableConfig = z.output<typeof tableSchema>;
