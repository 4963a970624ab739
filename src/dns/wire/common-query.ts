/**
 * The lean path's reader: recognises the query shape nearly every resolver sends — one
 * question of class IN and type A or AAAA, no answer or authority records, at most one
 * additional record which is an OPT (version 0) with at most one well-formed client-subnet
 * option — in one pass over the bytes, into a reused struct (no allocation). Anything else,
 * including everything malformed, is "not common": the full path (parseQuery) then decides,
 * so every FORMERR, NOTIMP, BADVERS and REFUSED still comes from one place.
 */
import { OPTION_ECS } from './ecs.ts';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const TYPE_OPT = 41;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** What readCommonQuery found; one instance is reused for every query (handling is synchronous). */
export class CommonQuery {
  /** End of the question (12 + name + 4). */
  questionEnd = 0;
  /** 1 (A) or 28 (AAAA). */
  qtype = 0;
  /** FNV-1a of the question name's wire bytes, lowercased (see nameHash). */
  nameHash = 0;
  hasOpt = false;
  /** The asker's UDP payload size and DNSSEC OK bit (when hasOpt). */
  udpSize = 0;
  do = false;
  /** Client subnet: family 4 or 6 (0 = no option), source prefix, address bytes in the packet. */
  ecsFamily = 0;
  ecsSource = 0;
  ecsAddr = 0;
  ecsAddrLength = 0;
}

/** FNV-1a over a name's wire bytes with ASCII letters lowercased (label length bytes are < 64). */
export function nameHash(buf: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    h = Math.imul(h ^ (c >= 65 && c <= 90 ? c + 32 : c), FNV_PRIME);
  }
  return h >>> 0;
}

/** Whether the packet's name at [12, 12 + wire.length) equals `wire` (lowercase wire form), ignoring case. */
export function nameEquals(raw: Buffer, wire: Buffer): boolean {
  for (let i = 0; i < wire.length; i++) {
    const c = raw[12 + i]!;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== wire[i]) return false;
  }
  return true;
}

/** A lowercased dotted name ('api.shop.test') in wire form; null when a label is empty or too long. */
export function wireName(name: string): Buffer | null {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.');
  const parts: number[] = [];
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) return null;
    parts.push(l.length);
    for (let i = 0; i < l.length; i++) {
      const c = l.charCodeAt(i);
      if (c > 255 || c === 92) return null;
      parts.push(c);
    }
  }
  parts.push(0);
  return parts.length > 255 ? null : Buffer.from(parts);
}

/**
 * Fills `q` and returns true when `raw` is a common query (see the file comment), else
 * false with `q` in an unspecified state. Never throws.
 */
export function readCommonQuery(raw: Buffer, q: CommonQuery): boolean {
  const n = raw.length;
  // QR clear, opcode QUERY; QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1
  if (n < 17 || (raw[2]! & 0xf8) !== 0) return false;
  if (raw[4] !== 0 || raw[5] !== 1 || raw[6] !== 0 || raw[7] !== 0 || raw[8] !== 0 || raw[9] !== 0) return false;
  const ar = raw[10] === 0 ? raw[11]! : 2;
  if (ar > 1) return false;

  // the question name: plain labels, no '.' or '\\' inside one (their text form is ambiguous)
  let h = FNV_OFFSET;
  let p = 12;
  for (;;) {
    if (p >= n) return false;
    const len = raw[p]!;
    h = Math.imul(h ^ len, FNV_PRIME);
    if (len === 0) break;
    if (len > 63 || p + 1 + len > n || p + 1 + len - 12 > 254) return false;
    for (let i = p + 1, end = p + 1 + len; i < end; i++) {
      const c = raw[i]!;
      if (c === 46 || c === 92) return false;
      h = Math.imul(h ^ (c >= 65 && c <= 90 ? c + 32 : c), FNV_PRIME);
    }
    p += 1 + len;
  }
  p++;
  if (p + 4 > n) return false;
  const qtype = (raw[p]! << 8) | raw[p + 1]!;
  if ((qtype !== TYPE_A && qtype !== TYPE_AAAA) || raw[p + 2] !== 0 || raw[p + 3] !== 1) return false;
  p += 4;
  q.questionEnd = p;
  q.qtype = qtype;
  q.nameHash = h >>> 0;
  q.ecsFamily = 0;
  if (ar === 0) {
    q.hasOpt = false;
    return p === n;
  }

  // OPT: root owner, TYPE 41, version 0, its RDATA ends the packet (RFC 6891 §6.1.2)
  if (p + 11 > n || raw[p] !== 0 || raw[p + 1] !== 0 || raw[p + 2] !== TYPE_OPT || raw[p + 6] !== 0) return false;
  const rdEnd = p + 11 + ((raw[p + 9]! << 8) | raw[p + 10]!);
  if (rdEnd !== n) return false;
  q.hasOpt = true;
  q.udpSize = (raw[p + 3]! << 8) | raw[p + 4]!;
  q.do = (raw[p + 7]! & 0x80) !== 0;
  for (let o = p + 11; o < rdEnd; ) {
    if (o + 4 > rdEnd) return false;
    const len = (raw[o + 2]! << 8) | raw[o + 3]!;
    const end = o + 4 + len;
    if (end > rdEnd) return false;
    if (((raw[o]! << 8) | raw[o + 1]!) === OPTION_ECS && !readEcs(raw, o + 4, end, q)) return false;
    o = end;
  }
  return true;
}

/** A client-subnet option as parseEcs accepts it (RFC 7871 §6), only once per query. */
function readEcs(raw: Buffer, start: number, end: number, q: CommonQuery): boolean {
  if (q.ecsFamily !== 0 || end - start < 4 || raw[start] !== 0) return false;
  const fam = raw[start + 1];
  if (fam !== 1 && fam !== 2) return false;
  const family = fam === 1 ? 4 : 6;
  const source = raw[start + 2]!;
  if (source > (family === 4 ? 32 : 128)) return false;
  const want = (source + 7) >> 3;
  if (end - start - 4 !== want) return false;
  if (source % 8 !== 0 && want > 0 && (raw[start + 3 + want]! & (0xff >> (source % 8))) !== 0) return false;
  q.ecsFamily = family;
  q.ecsSource = source;
  q.ecsAddr = start + 4;
  q.ecsAddrLength = want;
  return true;
}
