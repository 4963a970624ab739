/**
 * Cache keys (RFC 9111 §2, §4.1). The primary key is method + normalised host + normalised
 * path and query; the secondary key is the request's normalised values of the fields the
 * stored response's Vary names. Nothing else (X-Forwarded-Host, X-Original-URL, …) is keyed,
 * which is why the request filters strip those before a cacheable fetch.
 */
import { type HeaderMap, headerList } from './freshness.ts';

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX = /^[0-9A-Fa-f]{2}$/;

/** Percent-encoding normalisation: decode unreserved, uppercase the rest; null when invalid. */
function normalisePct(s: string): string | null {
  if (!s.includes('%')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = s.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return null;
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length > 1) out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  const r = out.join('/');
  return r.startsWith('/') ? r : `/${r}`;
}

// visible ASCII except space, DEL and the few characters a request-target cannot hold
const TARGET_OK = /^[\x21-\x7e]+$/;

/**
 * Normalises an origin-form request target ("/a/./b%7e?x=1") to "/a/b~?x=1"; returns null
 * when the target is malformed (not origin-form, bad escapes, control characters, fragment).
 */
export function normaliseTarget(target: string): string | null {
  if (!target.startsWith('/') || !TARGET_OK.test(target) || target.includes('#')) return null;
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  const path = normalisePct(rawPath);
  const query = normalisePct(rawQuery);
  if (path === null || query === null) return null;
  const clean = removeDotSegments(path);
  return query ? `${clean}?${query}` : clean;
}

const HOST_OK = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(:\d{1,5})?$/;

/** Lowercases a Host, drops a trailing dot and the default port; null when malformed. */
export function normaliseHost(host: string | undefined, defaultPort = 80): string | null {
  if (!host) return null;
  let h = host.trim().toLowerCase();
  if (!HOST_OK.test(h)) return null;
  const m = /:(\d+)$/.exec(h);
  if (m && !h.endsWith(']') && Number(m[1]) === defaultPort) h = h.slice(0, m.index);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** The primary cache key: only GET responses are stored (HEAD is served from them). */
export function primaryKey(host: string, target: string): string {
  return `GET ${host}${target}`;
}

/** The URL part of a primary key ("host/path?q"), for purge by prefix. */
export function keyUrl(key: string): string {
  return key.slice(4);
}

/** Field names a Vary header lists (lowercase), or '*' when it contains "*". */
export function varyNames(vary: string | undefined): string[] | '*' {
  if (!vary) return [];
  const names = vary
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('*')) return '*';
  return [...new Set(names)].sort();
}

const CODINGS = new Set(['br', 'gzip', 'deflate', 'zstd', 'compress', 'identity']);

/**
 * Accept-Encoding as a canonical set: the known codings the client accepts (q > 0), sorted.
 * "gzip, deflate, br" and "br;q=1.0, gzip, deflate" both become "br,deflate,gzip".
 */
export function normaliseAcceptEncoding(v: string | undefined): string {
  if (!v) return '';
  const out = new Set<string>();
  for (const part of v.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (!name) continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q && Number(q.slice(2)) === 0) continue;
    if (name === '*') {
      out.add('br');
      out.add('gzip');
    } else if (name === 'x-gzip') out.add('gzip');
    else if (CODINGS.has(name) && name !== 'identity') out.add(name);
  }
  return [...out].sort().join(',');
}

/** A request field's value as Vary compares it: combined, whitespace-collapsed (§4.1). */
export function varyValue(req: HeaderMap, name: string): string {
  const v = headerList(req, name);
  if (name === 'accept-encoding') return normaliseAcceptEncoding(v);
  if (v === undefined) return '';
  return v
    .replace(/\s*,\s*/g, ',')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The secondary key for a request under the given Vary names ("" when there are none). */
export function secondaryKey(names: readonly string[], req: HeaderMap): string {
  if (names.length === 0) return '';
  let s = '';
  for (const n of names) s += `${n}=${varyValue(req, n)}\n`;
  return s;
}
