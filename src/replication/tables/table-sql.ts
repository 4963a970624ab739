/** SQL the table replication runs: the `multizone` side schema, names, version vectors. */

/** Version vector: zone → count of that zone's writes the row's state includes. */
export type Vv = Record<string, number>;

/** The side schema multizone creates and owns in each zone's application database. */
export const SIDE_SCHEMA = 'multizone';

/**
 * The prefix of the transactional logical message a conflict's resolution writes in its
 * transaction (pg_logical_emit_message): the decoder ships that transaction's rows whoever
 * owns their shard — an operator's resolution is never misrouted.
 */
export const RESOLUTION_MESSAGE = 'multizone.resolution';

/**
 * The prefix of the message a resolution written as an applier would have written it carries
 * (a refused row, picked once its constraint is free): the decoder skips that transaction as
 * it skips an applier's — the origin zone holds the row already.
 */
export const APPLIED_MESSAGE = 'multizone.applied';

/**
 * SQLSTATE of the error the lock trigger raises when the app writes a row locked by a
 * conflict ("MZ" class, not used by PostgreSQL; docs/tables.md).
 */
export const LOCKED_SQLSTATE = 'MZL01';
/** SQLSTATE of an apply whose rows changed between its read and its write (it is read and tried again). */
export const STALE_SQLSTATE = 'MZS01';

/** Publication every zone decodes through. */
export const PUBLICATION = 'mz_tables';

/** `"a"."b"` from `a.b` (names are validated identifiers, quoting keeps them exact). */
export function qname(schema: string, table: string): string {
  return `${quote(schema)}.${quote(table)}`;
}

export function quote(ident: string): string {
  return `"${ident.replace(/"/g, '""')}"`;
}

/**
 * The column list an apply inserts, `("a", "b") OVERRIDING SYSTEM VALUE`, and the same columns
 * of `alias`: every column but the generated ones (PostgreSQL computes those, and refuses a
 * value for them); an identity column `GENERATED ALWAYS` takes the value the source zone's row
 * has (without OVERRIDING, PostgreSQL refuses it).
 */
export function insertColumns(columns: readonly { name: string }[], alias: string): { into: string; from: string } {
  const q = columns.map((c) => quote(c.name));
  return { into: `(${q.join(', ')}) OVERRIDING SYSTEM VALUE`, from: q.map((c) => `${alias}.${c}`).join(', ') };
}

/**
 * The columns an apply's update sets: neither key columns nor identity columns `GENERATED
 * ALWAYS` (PostgreSQL lets an update set those only to DEFAULT; their value is the insert's).
 */
export function updatedColumns(t: {
  columns: readonly { name: string; always?: boolean }[];
  key: readonly string[];
}): string[] {
  return t.columns.filter((c) => !c.always && !t.key.includes(c.name)).map((c) => c.name);
}

/** `schema.table` → [schema, table] (schema public when none is given). */
export function splitName(name: string): [string, string] {
  const i = name.indexOf('.');
  return i < 0 ? ['public', name] : [name.slice(0, i), name.slice(i + 1)];
}

/**
 * Slot of a zone's decoder. Slots and replication origins are per PostgreSQL server, not per
 * database, so both names carry the database's name (zones may share a server).
 */
export function slotName(database: string): string {
  const s = `mz_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
  return s.length <= 63 ? s : `${s.slice(0, 54)}_${fnv(s).toString(16)}`;
}

/** Replication origin a destination database's applier of `origin`'s changes runs under (its decoder skips them). */
export function originName(origin: string, database: string): string {
  return `mz_from_${origin}@${database}`;
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export { lsnToNumber, numberToLsn } from '../../store/index.ts';

/**
 * Chunks one source transaction may be split into. A change's position on the log is
 * `commitLsn * CHUNKS + chunk`, so a transaction re-decoded after a restart gets the same
 * positions and a destination skips what it applied (exactly once).
 */
export const CHUNKS = 4096;

/** a ≥ b: a includes every write b does. */
export function dominates(a: Vv, b: Vv): boolean {
  for (const [z, n] of Object.entries(b)) if ((a[z] ?? 0) < n) return false;
  return true;
}

/** `(a."k1", a."k2") = (b."k1", b."k2")` over a table's key columns. */
export function keyEquals(key: readonly string[], a: string, b: string): string {
  const side = (alias: string) => key.map((k) => `${alias}.${quote(k)}`).join(', ');
  return `(${side(a)}) = (${side(b)})`;
}

/** The key columns of a decoded row (its text values), or null for none. */
export function keyColumns(
  key: readonly string[],
  row: Record<string, unknown> | undefined,
): Record<string, unknown> | null {
  return row ? Object.fromEntries(key.map((k) => [k, row[k]])) : null;
}

/**
 * SQLSTATE class 23, integrity constraint violation (unique, foreign key, CHECK, NOT NULL,
 * exclusion): the destination's database refuses the row itself, so retrying the same batch
 * only helps if the database changes meanwhile.
 */
export function refusedByDestination(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('23');
}

export function vvEqual(a: Vv, b: Vv): boolean {
  return dominates(a, b) && dominates(b, a);
}

export function vvMerge(a: Vv, b: Vv): Vv {
  const out: Vv = { ...a };
  for (const [z, n] of Object.entries(b)) out[z] = Math.max(out[z] ?? 0, n);
  return out;
}

/** The side schema: row versions, cursors, locks, conflicts, misrouted writes, the lock trigger's function. */
export const SIDE_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS ${SIDE_SCHEMA};
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_versions (
  tbl text NOT NULL, key text NOT NULL, vv jsonb NOT NULL, row_xid xid,
  PRIMARY KEY (tbl, key));
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_cursors (origin text PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_locks (tbl text NOT NULL, key text NOT NULL, PRIMARY KEY (tbl, key));
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_conflicts (
  id bigserial PRIMARY KEY, tbl text NOT NULL, key text NOT NULL, origin text NOT NULL,
  local_row jsonb, remote_row jsonb, local_vv jsonb, remote_vv jsonb NOT NULL,
  at timestamptz NOT NULL DEFAULT now(), resolved_at timestamptz, resolved_by text);
-- why a change was held as a conflict when the destination's database refused it (NULL: concurrent writes)
ALTER TABLE ${SIDE_SCHEMA}.table_conflicts ADD COLUMN IF NOT EXISTS reason text;
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_misrouted (
  id bigserial PRIMARY KEY, tbl text NOT NULL, key text NOT NULL, shard int NOT NULL,
  owner text NOT NULL, epoch int NOT NULL, row_data jsonb, lsn text NOT NULL,
  at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS ${SIDE_SCHEMA}.table_state (name text PRIMARY KEY, value text NOT NULL);
CREATE OR REPLACE FUNCTION ${SIDE_SCHEMA}.locked(tbl text, key text) RETURNS boolean LANGUAGE sql STABLE AS $f$
  SELECT EXISTS (SELECT 1 FROM ${SIDE_SCHEMA}.table_locks l WHERE l.tbl = $1 AND l.key = $2)
$f$;
COMMENT ON FUNCTION ${SIDE_SCHEMA}.locked(text, text) IS
  'true while the key of the replicated table is locked by a replication conflict (writes to it fail with MZL01)';
CREATE OR REPLACE FUNCTION ${SIDE_SCHEMA}.vv_dominates(a jsonb, b jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $f$
  SELECT NOT EXISTS (SELECT 1 FROM jsonb_each_text(b) e WHERE COALESCE((a ->> e.key)::numeric, 0) < e.value::numeric)
$f$;
CREATE OR REPLACE FUNCTION ${SIDE_SCHEMA}.stale_row() RETURNS bigint LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'multizone: a local write changed a row between the apply''s read and its write'
    USING ERRCODE = '${STALE_SQLSTATE}';
END $f$;
CREATE OR REPLACE FUNCTION ${SIDE_SCHEMA}.refuse_locked() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE r jsonb; k text;
BEGIN
  -- no lock on the table (nearly always): one index probe, not the key's text per row
  IF NOT EXISTS (SELECT 1 FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = TG_ARGV[0]) THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  SELECT string_agg(r ->> c, ':' ORDER BY i) INTO k FROM unnest(TG_ARGV[1:]) WITH ORDINALITY AS a(c, i);
  IF EXISTS (SELECT 1 FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = TG_ARGV[0] AND key = k) THEN
    RAISE EXCEPTION 'multizone: % key % is locked by a replication conflict; resolve it (multizone conflicts)', TG_ARGV[0], k
      USING ERRCODE = '${LOCKED_SQLSTATE}';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    r := to_jsonb(OLD);
    SELECT string_agg(r ->> c, ':' ORDER BY i) INTO k FROM unnest(TG_ARGV[1:]) WITH ORDINALITY AS a(c, i);
    IF EXISTS (SELECT 1 FROM ${SIDE_SCHEMA}.table_locks WHERE tbl = TG_ARGV[0] AND key = k) THEN
      RAISE EXCEPTION 'multizone: % key % is locked by a replication conflict; resolve it (multizone conflicts)', TG_ARGV[0], k
        USING ERRCODE = '${LOCKED_SQLSTATE}';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $f$;
`;

/** The lock trigger on one app table (a plain trigger: it does not fire under session_replication_role = replica). */
export function lockTriggerSql(schema: string, table: string, name: string, key: readonly string[]): string {
  const args = [name, ...key].map((a) => `'${a.replace(/'/g, "''")}'`).join(', ');
  return `DROP TRIGGER IF EXISTS mz_refuse_locked ON ${qname(schema, table)};
CREATE TRIGGER mz_refuse_locked BEFORE INSERT OR UPDATE OR DELETE ON ${qname(schema, table)}
  FOR EACH ROW EXECUTE FUNCTION ${SIDE_SCHEMA}.refuse_locked(${args});`;
}

/** Key column types whose text is the same in every session (no time zone, no date style): keys versioned by trigger. */
// (not character(n): its cast to text drops the padding its output keeps)
const STABLE_KEY_TYPE = /^(smallint|integer|bigint|text|uuid|numeric|character varying)(\(|$)/;

/** True when the table's rows can be versioned by the trigger (its key's text does not depend on the session). */
export function versionedByTrigger(
  columns: readonly { name: string; type: string }[],
  key: readonly string[],
): boolean {
  return key.every((k) => STABLE_KEY_TYPE.test(columns.find((c) => c.name === k)?.type ?? ''));
}

/**
 * The version trigger on one app table: every write the app commits versions its row in the
 * same transaction (this zone's entry of the row's vector counts up; row_xid NULL: versioned
 * at the write), so the decoder reads each change's version from the WAL beside it instead of
 * a round trip per shipment, and an applier never sees a local write that is not versioned
 * yet. A plain trigger: an applier's writes (session_replication_role = replica) don't fire it.
 */
export function versionTriggerSql(
  schema: string,
  table: string,
  name: string,
  key: readonly string[],
  zone: string,
): string {
  const fn = `${SIDE_SCHEMA}.${quote(`version ${name}`)}`;
  const T = qname(schema, table);
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const keyText = (rec: string) => key.map((k) => `${rec}.${quote(k)}::text`).join(` || ':' || `);
  // per statement, set-based, each key the statement wrote bumped once (an update's old keys
  // too: a key change deletes the old one): a row trigger cost a bulk insert 7× its time here
  const body = (ks: string) => `
  INSERT INTO ${SIDE_SCHEMA}.table_versions AS v (tbl, key, vv, row_xid)
    SELECT ${lit(name)}, k, jsonb_build_object(${lit(zone)}, 1), NULL FROM unnest(${ks}) AS k
  ON CONFLICT (tbl, key) DO UPDATE
    SET vv = v.vv || jsonb_build_object(${lit(zone)}, COALESCE((v.vv ->> ${lit(zone)})::bigint, 0) + 1), row_xid = NULL;`;
  const fnFor = (
    suffix: string,
    ks: string,
  ) => `CREATE OR REPLACE FUNCTION ${fn.slice(0, -1)} ${suffix}"() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN${body(ks)}
  RETURN NULL;
END $f$;`;
  const ins = `(SELECT array_agg(DISTINCT ${keyText('n')}) FROM mz_new n)`;
  const del = `(SELECT array_agg(DISTINCT ${keyText('o')}) FROM mz_old o)`;
  const upd = `(SELECT array_agg(k) FROM (SELECT ${keyText('n')} AS k FROM mz_new n UNION SELECT ${keyText('o')} FROM mz_old o) u)`;
  return `${fnFor('insert', ins)}
${fnFor('update', upd)}
${fnFor('delete', del)}
DROP TRIGGER IF EXISTS mz_version ON ${T};
DROP TRIGGER IF EXISTS mz_version_insert ON ${T};
DROP TRIGGER IF EXISTS mz_version_update ON ${T};
DROP TRIGGER IF EXISTS mz_version_delete ON ${T};
CREATE TRIGGER mz_version_insert AFTER INSERT ON ${T} REFERENCING NEW TABLE AS mz_new
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn.slice(0, -1)} insert"();
CREATE TRIGGER mz_version_update AFTER UPDATE ON ${T} REFERENCING OLD TABLE AS mz_old NEW TABLE AS mz_new
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn.slice(0, -1)} update"();
CREATE TRIGGER mz_version_delete AFTER DELETE ON ${T} REFERENCING OLD TABLE AS mz_old
  FOR EACH STATEMENT EXECUTE FUNCTION ${fn.slice(0, -1)} delete"();`;
}
