/**
 * Pure, allocation-light parser for DNS queries (RFC 1035 §4.1, RFC 6891 OPT). It validates
 * the whole message (header counts, names, record bounds) so later stages can trust it,
 * and keeps raw offsets so replies can echo the question byte for byte (0x20).
 */

/** RFC 1035 opcodes and response codes we name. */
export const OPCODE_QUERY = 0;
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** RFC 8945: the TSIG key is not one we know (with TSIG error BADKEY). */
  NOTAUTH: 9,
  /** Extended (needs OPT): 16 = 0x10, top 8 bits go in the OPT TTL. */
  BADVERS: 16,
} as const;

export const TYPE_OPT = 41;
export const TYPE_TSIG = 250;
const CLASS_ANY = 255;

/** One EDNS option, raw. */
export interface EdnsOption {
  code: number;
  data: Buffer;
}

/** The OPT pseudo-record of a query; its options stay in the packet (validated, not copied). */
export interface QueryOpt {
  udpSize: number;
  version: number;
  /** DNSSEC OK bit. */
  do: boolean;
  /** RDATA bounds in the packet: a run of well-formed options. */
  rdStart: number;
  rdEnd: number;
}

/** Where a query's TSIG record (RFC 8945 §4.2) is; its RDATA was checked to be readable. */
export interface QueryTsig {
  /** Start of the record (its owner, the key name). */
  start: number;
  rdStart: number;
  rdEnd: number;
  /** Offset of the fudge field in the RDATA (after the algorithm name and time signed). */
  fudgeAt: number;
  /** Offset of the original id (after the MAC). */
  originalIdAt: number;
}

/** A parsed, validated query. Offsets index `raw`. */
export interface ParsedQuery {
  id: number;
  /** Header byte 2 and 3 as received (opcode, RD, CD). */
  flags1: number;
  flags2: number;
  opcode: number;
  /** Lowercased name without the trailing dot, '' for the root (built on first use). */
  readonly name: string;
  /** Labels contain a '.' or '\\' byte: the text form is ambiguous, treat as not ours. */
  odd: boolean;
  qtype: number;
  qclass: number;
  /** End of the question section (12 + name + 4). */
  questionEnd: number;
  /** Length of the question name on the wire. */
  nameLength: number;
  opt: QueryOpt | null;
  /** The TSIG record, when the query is signed (always the last additional record). */
  tsig: QueryTsig | null;
}

/** Why a packet could not be parsed; `header` says whether a reply header can be formed. */
export interface ParseFailure {
  error: 'short' | 'response' | 'formerr' | 'notimp';
  /** What exactly was wrong, for the rejected-packets metric. */
  reason: string;
  /** The question, when it was parsed before the fault (echoed in FORMERR/NOTIMP). */
  questionEnd: number;
}

export type ParseResult = { ok: true; query: ParsedQuery } | ({ ok: false } & ParseFailure);

/** Reused to build a lowercased name in one string allocation. */
const nameScratch = Buffer.allocUnsafe(256);

/** The question name of a validated query, lowercased, labels joined by '.'. */
function lowerName(buf: Buffer, nameEnd: number): string {
  let n = 0;
  for (let p = 12; p < nameEnd - 1; ) {
    const len = buf[p]!;
    if (n > 0) nameScratch[n++] = 46;
    for (let i = p + 1; i <= p + len; i++) {
      const c = buf[i]!;
      nameScratch[n++] = c >= 65 && c <= 90 ? c + 32 : c;
    }
    p += 1 + len;
  }
  return nameScratch.toString('latin1', 0, n);
}

/** A parsed query; the name string is built only when a stage asks (a cache hit never does). */
class Query implements ParsedQuery {
  private text: string | undefined;
  constructor(
    private readonly raw: Buffer,
    readonly id: number,
    readonly flags1: number,
    readonly flags2: number,
    readonly opcode: number,
    readonly odd: boolean,
    readonly qtype: number,
    readonly qclass: number,
    readonly questionEnd: number,
    readonly nameLength: number,
    readonly opt: QueryOpt | null,
    readonly tsig: QueryTsig | null,
  ) {}

  get name(): string {
    this.text ??= lowerName(this.raw, 12 + this.nameLength);
    return this.text;
  }
}

const fail = (error: ParseFailure['error'], reason: string, questionEnd = 12): ParseResult => ({
  ok: false,
  error,
  reason,
  questionEnd,
});

/**
 * Skips a possibly compressed name at off; returns the offset after it, or -1 when it is
 * malformed (out of bounds, bad label type, pointer loop or forward pointer, > 255 bytes).
 */
export function skipName(buf: Buffer, off: number): number {
  let end = -1;
  let total = 0;
  let jumps = 0;
  let p = off;
  for (;;) {
    if (p >= buf.length) return -1;
    const len = buf[p]!;
    if (len === 0) {
      total += 1;
      if (total > 255) return -1;
      return end < 0 ? p + 1 : end;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (p + 1 >= buf.length) return -1;
      const target = ((len & 0x3f) << 8) | buf[p + 1]!;
      // pointers must point backwards (RFC 1035 §4.1.4: to a prior occurrence); bounds loops too
      if (target >= p || ++jumps > 64) return -1;
      if (end < 0) end = p + 2;
      p = target;
      continue;
    }
    if (kind !== 0) return -1; // 0x40 / 0x80: extended label types are obsolete
    total += len + 1;
    if (total > 255 || p + 1 + len > buf.length) return -1;
    p += 1 + len;
  }
}

/** Parses a query message. Never throws on any input. */
export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return fail('short', 'short');
  const flags1 = buf[2]!;
  const flags2 = buf[3]!;
  if (flags1 & 0x80) return fail('response', 'qr-set');
  const opcode = (flags1 >> 3) & 0x0f;
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (opcode !== OPCODE_QUERY) return fail('notimp', 'opcode');
  if (qd !== 1) return fail('formerr', 'qdcount');

  // question name: no compression allowed (there is nothing before it to point at)
  let p = 12;
  let odd = false;
  for (;;) {
    if (p >= buf.length) return fail('formerr', 'truncated-question');
    const len = buf[p]!;
    if (len === 0) {
      p++;
      break;
    }
    if (len > 63) return fail('formerr', 'bad-label');
    if (p + 1 + len > buf.length) return fail('formerr', 'truncated-question');
    if (p + 1 + len - 12 > 254) return fail('formerr', 'name-too-long');
    for (let i = p + 1; i <= p + len; i++) {
      const c = buf[i]!;
      if (c === 46 || c === 92) odd = true;
    }
    p += 1 + len;
  }
  const nameLength = p - 12;
  if (p + 4 > buf.length) return fail('formerr', 'truncated-question');
  const qtype = buf.readUInt16BE(p);
  const qclass = buf.readUInt16BE(p + 2);
  p += 4;
  const questionEnd = p;

  // answer and authority sections: queries normally have none, but they are legal; skip them
  for (let i = 0; i < an + ns; i++) {
    p = skipName(buf, p);
    if (p < 0 || p + 10 > buf.length) return fail('formerr', 'bad-record', questionEnd);
    const rdlen = buf.readUInt16BE(p + 8);
    p += 10 + rdlen;
    if (p > buf.length) return fail('formerr', 'bad-record', questionEnd);
  }

  let opt: QueryOpt | null = null;
  let tsig: QueryTsig | null = null;
  for (let i = 0; i < ar; i++) {
    const start = p;
    p = skipName(buf, p);
    if (p < 0 || p + 10 > buf.length) return fail('formerr', 'bad-record', questionEnd);
    const type = buf.readUInt16BE(p);
    const rdlen = buf.readUInt16BE(p + 8);
    const rdStart = p + 10;
    const rdEnd = rdStart + rdlen;
    if (rdEnd > buf.length) return fail('formerr', 'bad-record', questionEnd);
    if (type === TYPE_TSIG) {
      // RFC 8945 §5.1: the last record, class ANY, TTL 0; §5.2: unreadable is FORMERR
      if (i !== ar - 1) return fail('formerr', 'tsig-not-last', questionEnd);
      if (buf.readUInt16BE(p + 2) !== CLASS_ANY || buf.readUInt32BE(p + 4) !== 0)
        return fail('formerr', 'tsig-malformed', questionEnd);
      tsig = readTsig(buf, start, rdStart, rdEnd);
      if (tsig === null) return fail('formerr', 'tsig-malformed', questionEnd);
    } else if (type === TYPE_OPT) {
      // RFC 6891 §6.1.1: one OPT, owner is the root
      if (opt !== null) return fail('formerr', 'two-opt', questionEnd);
      if (p !== start + 1 || buf[start] !== 0) return fail('formerr', 'opt-owner', questionEnd);
      let o = rdStart;
      while (o < rdEnd) {
        if (o + 4 > rdEnd) return fail('formerr', 'bad-option', questionEnd);
        o += 4 + buf.readUInt16BE(o + 2);
        if (o > rdEnd) return fail('formerr', 'bad-option', questionEnd);
      }
      opt = {
        udpSize: buf.readUInt16BE(p + 2),
        version: buf[p + 5]!,
        do: (buf[p + 6]! & 0x80) !== 0,
        rdStart,
        rdEnd,
      };
    }
    p = rdEnd;
  }
  if (p !== buf.length) return fail('formerr', 'trailing-bytes', questionEnd);

  const query = new Query(
    buf,
    buf.readUInt16BE(0),
    flags1,
    flags2,
    opcode,
    odd,
    qtype,
    qclass,
    questionEnd,
    nameLength,
    opt,
    tsig,
  );
  return { ok: true, query };
}

/**
 * Checks a TSIG RDATA at [rdStart, rdEnd): algorithm name, time signed (6), fudge (2), MAC
 * size (2), MAC, original id (2), error (2), other len (2), other data, nothing after.
 */
function readTsig(buf: Buffer, start: number, rdStart: number, rdEnd: number): QueryTsig | null {
  const algEnd = skipName(buf, rdStart);
  if (algEnd < 0 || algEnd + 10 > rdEnd) return null;
  const fudgeAt = algEnd + 6;
  const macEnd = algEnd + 10 + buf.readUInt16BE(algEnd + 8);
  if (macEnd + 6 > rdEnd) return null;
  if (macEnd + 6 + buf.readUInt16BE(macEnd + 4) !== rdEnd) return null;
  return { start, rdStart, rdEnd, fudgeAt, originalIdAt: macEnd };
}

/**
 * The name at off with compression pointers followed, as uncompressed wire bytes (for
 * copying a query's name into a reply, where its pointers would point elsewhere); null when
 * it is malformed.
 */
export function expandName(buf: Buffer, off: number): Buffer | null {
  if (skipName(buf, off) < 0) return null;
  const parts: Buffer[] = [];
  let p = off;
  for (;;) {
    const len = buf[p]!;
    if (len === 0) break;
    if ((len & 0xc0) === 0xc0) {
      p = ((len & 0x3f) << 8) | buf[p + 1]!;
      continue;
    }
    parts.push(buf.subarray(p, p + 1 + len));
    p += 1 + len;
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** The OPT record a message carries, found leniently (the message may be malformed elsewhere). */
export interface FoundOpt {
  /** DNSSEC OK bit. */
  do: boolean;
  /** RDATA bounds; rdEnd may lie past the packet when the record is cut short. */
  rdStart: number;
  rdEnd: number;
}

/**
 * The first OPT record of a message, for replies to queries that failed to parse (RFC 6891
 * §7: a reply to a query with an OPT has one, FORMERR included) and for replies we pad.
 * Walks the question(s) and the records as far as they are readable, whatever the header
 * counts claim beyond that; null when no OPT header is found before the message stops making
 * sense. Never throws.
 */
export function findOpt(buf: Buffer): FoundOpt | null {
  if (buf.length < 12) return null;
  let p = 12;
  for (let i = buf.readUInt16BE(4); i > 0; i--) {
    p = skipName(buf, p);
    if (p < 0 || p + 4 > buf.length) return null;
    p += 4;
  }
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8);
  for (let i = 0, n = records + buf.readUInt16BE(10); i < n; i++) {
    p = skipName(buf, p);
    if (p < 0 || p + 10 > buf.length) return null;
    const rdStart = p + 10;
    const rdEnd = rdStart + buf.readUInt16BE(p + 8);
    if (i >= records && buf.readUInt16BE(p) === TYPE_OPT) return { do: (buf[p + 6]! & 0x80) !== 0, rdStart, rdEnd };
    p = rdEnd;
  }
  return null;
}

/** Whether the option `code` is among an OPT's options (read as far as they are well framed). */
export function hasOption(buf: Buffer, opt: FoundOpt, code: number): boolean {
  const end = Math.min(opt.rdEnd, buf.length);
  for (let o = opt.rdStart; o + 4 <= end; o += 4 + buf.readUInt16BE(o + 2))
    if (buf.readUInt16BE(o) === code) return true;
  return false;
}

/** The options of a parsed OPT, copied out (for tests and tools; the hot path walks the bytes). */
export function ednsOptions(buf: Buffer, opt: QueryOpt): EdnsOption[] {
  const out: EdnsOption[] = [];
  for (let o = opt.rdStart; o < opt.rdEnd; ) {
    const len = buf.readUInt16BE(o + 2);
    out.push({ code: buf.readUInt16BE(o), data: Buffer.from(buf.subarray(o + 4, o + 4 + len)) });
    o += 4 + len;
  }
  return out;
}

/**
 * Reads just enough of a packet to echo its question (for FORMERR/NOTIMP and RRL slips):
 * the end offset of a well-formed single question, or 12 when there is none.
 */
export function questionEndOf(buf: Buffer): number {
  if (buf.length < 12 || buf.readUInt16BE(4) !== 1) return 12;
  let p = 12;
  for (;;) {
    if (p >= buf.length) return 12;
    const len = buf[p]!;
    if (len === 0) break;
    if (len > 63 || p + 1 + len > buf.length || p + 1 + len - 12 > 254) return 12;
    p += 1 + len;
  }
  return p + 5 <= buf.length ? p + 5 : 12;
}
