/**
 * Cache-Control parsing (RFC 9111 §5.2). Directive names are case-insensitive; values may be
 * tokens or quoted strings. When a directive repeats, the first occurrence wins except for
 * delta-seconds, where the smallest (most conservative) value wins.
 */
import { parseSfDictionary } from './structured-field.ts';

export type Directives = ReadonlyMap<string, string | true>;

const EMPTY: Directives = new Map();

/** Parses one or more Cache-Control field values (joined by commas). */
export function parseCacheControl(value: string | readonly string[] | undefined): Directives {
  if (value === undefined) return EMPTY;
  const text = typeof value === 'string' ? value : value.join(',');
  if (!text) return EMPTY;
  const out = new Map<string, string | true>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && text[j] !== '=' && text[j] !== ',') j++;
    const name = text.slice(i, j).trim().toLowerCase();
    let val: string | true = true;
    i = j;
    if (text[i] === '=') {
      i++;
      while (i < n && text[i] === ' ') i++;
      if (text[i] === '"') {
        let s = '';
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          s += text[i];
          i++;
        }
        i++; // closing quote
        val = s;
        while (i < n && text[i] !== ',') i++;
      } else {
        let k = i;
        while (k < n && text[k] !== ',') k++;
        val = text.slice(i, k).trim();
        i = k;
      }
    }
    if (!name) continue;
    const prev = out.get(name);
    if (prev === undefined) out.set(name, val);
    else if (typeof prev === 'string' && typeof val === 'string' && /^\d+$/.test(prev) && /^\d+$/.test(val)) {
      if (Number(val) < Number(prev)) out.set(name, val);
    }
  }
  return out;
}

/**
 * A delta-seconds directive's value: undefined when absent, 0 when present but invalid
 * (RFC 9111 §4.2.1: an invalid freshness value makes the response stale).
 */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined) return undefined;
  if (v === true || !/^\d+$/.test(v)) return 0;
  // 2^31 is the cap RFC 9111 §1.2.2 suggests for overflowing values
  return Math.min(Number(v), 2147483648);
}

/** Field names listed in a qualified directive like `no-cache="set-cookie, x-a"`. */
export function fieldNames(d: Directives, name: string): string[] | undefined {
  const v = d.get(name);
  if (typeof v !== 'string') return undefined;
  return v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** Directives whose value is delta-seconds: a non-negative Integer in a structured field. */
const DELTA = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);
/** Directives that take no value, or a String of field names. */
const FIELD_LIST = new Set(['no-cache', 'private']);

/**
 * CDN-Cache-Control (RFC 9213 §2.1): a structured-field Dictionary. Returns undefined when the
 * field is not a valid Dictionary, or a known directive has a value of the wrong type
 * (`max-age="10"`, `max-age=-5`, `no-store=1`): the whole field is then ignored and
 * Cache-Control decides, so a malformed targeted field can never extend a lifetime.
 */
export function parseTargetedCacheControl(value: string | readonly string[]): Directives | undefined {
  const dict = parseSfDictionary(value);
  if (!dict) return undefined;
  const out = new Map<string, string | true>();
  for (const [k, v] of dict) {
    if (DELTA.has(k)) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return undefined;
      out.set(k, String(v));
    } else if (FIELD_LIST.has(k)) {
      if (v === true) out.set(k, true);
      else if (typeof v === 'string') out.set(k, v);
      else return undefined;
    } else if (v === true) out.set(k, true);
    else if (typeof v === 'string' || typeof v === 'number') out.set(k, String(v));
    else if (v === false) return undefined;
    else out.set(k, true); // an extension directive with a token or list value: its presence counts
  }
  return out;
}
