import { storeErrors } from './errors.ts';

/** Quotes an identifier for SQL. */
export function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/**
 * A string as an escape-string literal (E'…'): quotes and backslashes doubled, so it reads the
 * same whatever standard_conforming_strings says. Used to fold a whole batch into one
 * simple-protocol query string (BEGIN and COMMIT ride along, saving round trips).
 */
export function sqlLiteral(s: string): string {
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A number for SQL text; anything else (say a malformed seq from the log) is refused, never spliced in. */
export function num(x: unknown): number {
  const n = typeof x === 'number' ? x : Number.NaN;
  if (!Number.isFinite(n)) throw storeErrors.ERR_STORE_BAD_CHANGE(`expected a number, got ${String(x).slice(0, 40)}`);
  return n;
}

/** Rows as one jsonb literal, read back in SQL with jsonb_to_recordset. */
export function jsonRows(rows: readonly object[]): string {
  return `${sqlLiteral(JSON.stringify(rows))}::jsonb`;
}
