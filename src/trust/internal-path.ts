/**
 * Internal paths: `/internal` and everything under it is zone-to-zone only. A public listener
 * must recognise it however a client spells it, because whatever sits behind (undici, the
 * WHATWG URL parser of an app, another proxy) may normalise it back to `/internal`.
 */

/** The prefix of zone-to-zone routes (first path segment, compared case-insensitively). */
export const INTERNAL_SEGMENT = 'internal';

/** How many rounds of percent-decoding a path gets (double and triple encoding included). */
const MAX_DECODE_ROUNDS = 4;

const HEX = /^[0-9a-fA-F]{2}$/;

/** Decodes every valid %HH triplet (bytes, then UTF-8 with replacement); invalid ones stay as they are. */
function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ && HEX.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The path a lenient server behind us could end up serving: the query and fragment cut, an
 * absolute-form target's scheme and authority dropped, percent-decoded until stable (at most
 * MAX_DECODE_ROUNDS), backslashes read as slashes, empty segments dropped, `;params` and
 * trailing dots/spaces/controls of each segment removed, `.` and `..` resolved, lower-cased.
 * Example: `/api/%252e%252e/%5CINTERNAL;x/a` → `/internal/a`.
 */
export function normalisePath(target: string): string {
  let p = target;
  const cut = p.search(/[?#]/);
  if (cut >= 0) p = p.slice(0, cut);
  // absolute-form (`http://host/internal`): only the path counts
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/\\]*/i.exec(p);
  if (abs) p = p.slice(abs[0].length);
  for (let i = 0; i < MAX_DECODE_ROUNDS; i++) {
    const d = percentDecode(p);
    if (d === p) break;
    p = d;
  }
  const out: string[] = [];
  for (const raw of p.split(/[/\\]+/)) {
    // `..;/` and `internal;v=1` (path parameters), `internal.` and `internal%20` (trailing junk)
    const seg = raw
      .replace(/;.*$/s, '')
      .replace(/^[\s\x00-\x1f]+|[\s\x00-\x1f]+$/g, '')
      .toLowerCase();
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    // a trailing dot is dropped by some servers (`internal.` → `internal`); keep `..`-like ones handled above
    out.push(seg.replace(/\.+$/, '') || seg);
  }
  return `/${out.join('/')}`;
}

/** True when `target` (a request target as received) names `/internal` or a path under it, however encoded. */
export function isInternalPath(target: string): boolean {
  // fast path: nothing that could spell it (an encoded letter needs '%', a case trick needs the letters)
  if (!/[%\\]|internal|\.\./i.test(target)) return false;
  const n = normalisePath(target);
  return n === `/${INTERNAL_SEGMENT}` || n.startsWith(`/${INTERNAL_SEGMENT}/`);
}
