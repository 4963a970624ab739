import { isIPv4, isIPv6 } from 'node:net';
import { geoErrors } from './errors.ts';

/** A client address or ECS subnet, normalised: the address is masked to the prefix. */
export interface ClientAddr {
  family: 4 | 6;
  /** Masked address text, e.g. '1.2.3.0' for 1.2.3.4/24. */
  address: string;
  /** Source prefix length: 32/128 for a single address. */
  prefix: number;
  /** IPv4 as an unsigned 32-bit integer (0 for IPv6). */
  v4: number;
}

export function ipv4ToInt(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return (n * 256 + part) >>> 0;
}

export function intToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Expands an IPv6 text form to 8 16-bit groups. */
export function ipv6ToGroups(s: string): number[] {
  let text = s;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // embedded IPv4 (::ffff:1.2.3.4)
    const v4 = ipv4ToInt(text.slice(lastColon + 1));
    tail = [v4 >>> 16, v4 & 0xffff];
    text = `${text.slice(0, lastColon + 1)}0`;
    text = text.endsWith('::0') ? `${text.slice(0, -1)}` : text.slice(0, -2);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':').map((x) => Number.parseInt(x, 16)) : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':').map((x) => Number.parseInt(x, 16)) : [];
  const total = 8 - tail.length;
  const fill = rest === undefined ? [] : new Array(Math.max(0, total - h.length - r.length)).fill(0);
  return [...h, ...fill, ...r, ...tail].slice(0, 8);
}

export function groupsToIpv6(g: number[]): string {
  // RFC 5952 shortest form: compress the longest run of zero groups (length >= 2)
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] === 0) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen && j - i >= 2) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    } else i++;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Strict dotted-quad parse without allocation; -1 when s is not one. */
export function parseIpv4(s: string, start = 0, end = s.length): number {
  let n = 0;
  let part = -1;
  let dots = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = -1;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // no leading zeros (they mean octal to some parsers): '01' is refused
      if (digits > 0 && part === 0) return -1;
      part = part < 0 ? c - 48 : part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || part < 0) return -1;
  return (n * 256 + part) >>> 0;
}

/** Parses 'ip' or 'ip/prefix' (IPv4 or IPv6), masking the address; throws ERR_GEO_BAD_IP. */
export function parseClientAddr(input: string): ClientAddr {
  const fast = parseIpv4(input);
  if (fast >= 0) return { family: 4, address: input, prefix: 32, v4: fast };
  const subnet = parseIpv4Subnet(input);
  if (subnet !== null) return subnet;
  const s = input.trim();
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : 0;
  if (family === 0) throw geoErrors.ERR_GEO_BAD_IP(`not an IP address: ${JSON.stringify(input)}`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw geoErrors.ERR_GEO_BAD_IP(`bad prefix length in ${JSON.stringify(input)} (0..${max})`);
    }
    prefix = Number(p);
  }
  return makeAddr(family, ip, prefix);
}

/**
 * 'a.b.c.d/N' (what DNS gives steering for an ECS subnet on every answer-cache miss) without
 * the trims, slices and regular expressions of the general path; null for anything else,
 * which the general path then parses (and rejects) as before.
 */
function parseIpv4Subnet(input: string): ClientAddr | null {
  const slash = input.indexOf('/');
  const digits = input.length - slash - 1;
  if (slash < 7 || digits < 1 || digits > 3) return null;
  const v4 = parseIpv4(input, 0, slash);
  if (v4 < 0) return null;
  let prefix = 0;
  for (let i = slash + 1; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c < 48 || c > 57) return null;
    prefix = prefix * 10 + (c - 48);
  }
  if (prefix > 32) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const masked = (v4 & mask) >>> 0;
  return { family: 4, address: intToIpv4(masked), prefix, v4: masked };
}

/** Builds a ClientAddr from a validated address and prefix (used by the DNS ECS path). */
export function makeAddr(family: 4 | 6, ip: string, prefix: number): ClientAddr {
  if (family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    const v4 = (ipv4ToInt(ip) & mask) >>> 0;
    return { family, address: intToIpv4(v4), prefix, v4 };
  }
  const g = ipv6ToGroups(ip);
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is an IPv4 client: look it up as one
  if (prefix >= 96 && g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return makeAddr(4, intToIpv4(((g[6]! << 16) | g[7]!) >>> 0), prefix - 96);
  }
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    g[i] = bits === 0 ? 0 : g[i]! & ((0xffff << (16 - bits)) & 0xffff);
  }
  return { family, address: groupsToIpv6(g), prefix, v4: 0 };
}

/** The longest prefix (smallest block) around v4 that lies within [start, end]. */
export function prefixWithin(v4: number, start: number, end: number): number {
  // widen from /32 while the enclosing block still fits in [start, end]
  let p = 32;
  while (p > 0) {
    const size = 2 ** (33 - p);
    const blockStart = v4 - (v4 % size);
    if (blockStart < start || blockStart + size - 1 > end) break;
    p--;
  }
  return p;
}
