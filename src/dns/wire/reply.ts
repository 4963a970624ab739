/**
 * Reply encoding. The header and question are written here (the question is copied byte for
 * byte from the query, so the asker's letter case survives: 0x20). A and AAAA records owned
 * by the question name, the steering answers that make up nearly every reply, are written
 * here with their owner compressed to the question (RFC 1035 §4.1.4) and their address
 * bytes encoded once per address; every other record is encoded by dns-packet.
 */
import dnsPacket from 'dns-packet';
import { findOpt } from './query.ts';

/** A resource record as dns-packet encodes it (never OPT: that is built from ReplyOpt). */
export type Rr = dnsPacket.Answer;

interface AnswerCodec {
  encode(a: Rr, buf: Buffer, offset: number): Buffer;
  encodingLength(a: Rr): number;
}
// dns-packet exports its per-record codec, but @types/dns-packet does not declare it
const rrCodec = (dnsPacket as unknown as { answer: AnswerCodec }).answer;

/** The OPT record we put in a reply (RFC 6891 §6.1.3). */
export interface ReplyOpt {
  /** Our own UDP payload size. */
  udpSize: number;
  /** Copied from the query (RFC 3225). */
  do: boolean;
  options: { code: number; data: Buffer }[];
}

export interface ReplyInput {
  /** The query, for its id, opcode, RD/CD bits and question bytes. */
  query: Buffer;
  /** End of the question to echo; 12 = none (header-only reply). */
  questionEnd: number;
  /** Full rcode: values above 15 need `opt` (the upper bits go in its TTL). */
  rcode: number;
  aa: boolean;
  tc?: boolean;
  answers?: readonly Rr[];
  authorities?: readonly Rr[];
  additionals?: readonly Rr[];
  opt: ReplyOpt | null;
  /**
   * Copy the query's CD bit (default). False for opcodes other than QUERY: CD is a DNSSEC
   * query flag (RFC 4035 §3.1.6), while RD is part of every header (RFC 1035 §4.1.1).
   */
  copyCd?: boolean;
  /** A whole record, already encoded, to end the additional section with (an unsigned TSIG). */
  tsig?: Buffer;
  /**
   * The question name as the zone knows it (lowercased, no trailing dot): A and AAAA records
   * with this owner point at the question instead of spelling it out.
   */
  qname?: string;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
/** Address → rdata bytes; endpoints are few, so this stays small (cleared if it ever grows). */
const rdataCache = new Map<string, Buffer>();
const RDATA_CACHE_MAX = 4096;

function addressBytes(type: 'A' | 'AAAA', ip: string): Buffer {
  const key = type === 'A' ? ip : `6:${ip}`;
  let b = rdataCache.get(key);
  if (b === undefined) {
    // dns-packet parses the address (and rejects a bad one) once; keep only its rdata bytes
    const rr: Rr = { name: '.', type, ttl: 0, data: ip };
    const enc = Buffer.alloc(rrCodec.encodingLength(rr));
    rrCodec.encode(rr, enc, 0);
    b = Buffer.from(enc.subarray(enc.length - (type === 'A' ? 4 : 16)));
    if (rdataCache.size >= RDATA_CACHE_MAX) rdataCache.clear();
    rdataCache.set(key, b);
  }
  return b;
}

/** Whether `a` is an address record the lean path writes (owner = the question). */
const lean = (a: Rr, qname: string | undefined): boolean =>
  qname !== undefined && (a.type === 'A' || a.type === 'AAAA') && a.name === qname;

function rrLength(a: Rr, qname: string | undefined): number {
  return lean(a, qname) ? (a.type === 'A' ? 16 : 28) : rrCodec.encodingLength(a);
}

/** Writes one record at off; returns the offset after it. */
function writeRr(a: Rr, buf: Buffer, off: number, qname: string | undefined): number {
  if (!lean(a, qname)) {
    rrCodec.encode(a, buf, off);
    return off + rrCodec.encodingLength(a);
  }
  const rr = a as { type: 'A' | 'AAAA'; ttl?: number; data: string };
  return writeAddressRr(buf, off, rr.type === 'A' ? TYPE_A : TYPE_AAAA, rr.ttl ?? 0, rr.data);
}

/**
 * Writes an A (type 1) or AAAA (28) record owned by the question name (a pointer to offset
 * 12) at off: 16 or 28 bytes. Returns the offset after it. Throws for an address that is not one.
 */
export function writeAddressRr(buf: Buffer, off: number, type: 1 | 28, ttl: number, ip: string): number {
  const rdata = addressBytes(type === TYPE_A ? 'A' : 'AAAA', ip);
  buf[off] = 0xc0; // pointer to the question name at offset 12
  buf[off + 1] = 12;
  buf.writeUInt16BE(type, off + 2);
  buf.writeUInt16BE(1, off + 4); // IN
  buf.writeUInt32BE(ttl, off + 6);
  buf.writeUInt16BE(rdata.length, off + 10);
  // a byte loop beats Buffer#copy's call overhead for 4 or 16 bytes
  for (let i = 0; i < rdata.length; i++) buf[off + 12 + i] = rdata[i]!;
  return off + 12 + rdata.length;
}

const optLength = (o: ReplyOpt) => 11 + o.options.reduce((n, x) => n + 4 + x.data.length, 0);

/** Encodes a whole reply into one exactly sized buffer. */
export function encodeReply(r: ReplyInput): Buffer {
  const answers = r.answers ?? [];
  const authorities = r.authorities ?? [];
  const additionals = r.additionals ?? [];
  const qLen = r.questionEnd - 12;
  // compression needs the question in the reply
  const qname = qLen > 0 ? r.qname : undefined;
  let size = 12 + qLen;
  for (const a of answers) size += rrLength(a, qname);
  for (const a of authorities) size += rrLength(a, qname);
  for (const a of additionals) size += rrLength(a, qname);
  if (r.opt) size += optLength(r.opt);
  if (r.tsig) size += r.tsig.length;

  const buf = Buffer.alloc(size);
  const q = r.query;
  buf[0] = q[0]!;
  buf[1] = q[1]!;
  // QR | opcode as asked | AA | TC | RD as asked; RA stays 0 (we do not recurse)
  buf[2] = 0x80 | (q[2]! & 0x78) | (r.aa ? 0x04 : 0) | (r.tc ? 0x02 : 0) | (q[2]! & 0x01);
  // CD copied (RFC 4035 §3.1.6) unless told not to, low 4 bits of the rcode
  buf[3] = (r.copyCd === false ? 0 : q[3]! & 0x10) | (r.rcode & 0x0f);
  buf.writeUInt16BE(qLen > 0 ? 1 : 0, 4);
  buf.writeUInt16BE(answers.length, 6);
  buf.writeUInt16BE(authorities.length, 8);
  buf.writeUInt16BE(additionals.length + (r.opt ? 1 : 0) + (r.tsig ? 1 : 0), 10);
  if (qLen > 0) q.copy(buf, 12, 12, r.questionEnd);
  let off = 12 + qLen;
  for (const list of [answers, authorities, additionals]) for (const a of list) off = writeRr(a, buf, off, qname);
  if (r.opt) {
    const o = r.opt;
    buf[off] = 0; // root owner
    buf.writeUInt16BE(41, off + 1);
    buf.writeUInt16BE(o.udpSize, off + 3);
    buf[off + 5] = (r.rcode >> 4) & 0xff; // extended rcode, upper 8 bits
    buf[off + 6] = 0; // version 0: the only one we speak
    buf[off + 7] = o.do ? 0x80 : 0;
    buf[off + 8] = 0;
    const rdlen = optLength(o) - 11;
    buf.writeUInt16BE(rdlen, off + 9);
    off += 11;
    for (const x of o.options) {
      buf.writeUInt16BE(x.code, off);
      buf.writeUInt16BE(x.data.length, off + 2);
      x.data.copy(buf, off + 4);
      off += 4 + x.data.length;
    }
  }
  // RFC 8945 §5.1: the TSIG record comes last, after the OPT
  if (r.tsig) r.tsig.copy(buf, off);
  return buf;
}

/** EDNS Padding (RFC 7830). */
export const OPTION_PADDING = 12;

/**
 * The reply with a Padding option added to its OPT so that its length is a multiple of
 * `block` (RFC 8467 §4.1 recommends 468 for responses); unchanged when it has no OPT.
 * Worked example: a 70-byte reply gets a 4-byte option header and 394 zero bytes: 468.
 */
export function padReply(reply: Buffer, block: number): Buffer {
  const opt = findOpt(reply);
  if (opt === null || opt.rdEnd > reply.length) return reply;
  const fill = (block - ((reply.length + 4) % block)) % block;
  const out = Buffer.alloc(reply.length + 4 + fill);
  reply.copy(out, 0, 0, opt.rdEnd);
  out.writeUInt16BE(OPTION_PADDING, opt.rdEnd);
  out.writeUInt16BE(fill, opt.rdEnd + 2);
  reply.copy(out, opt.rdEnd + 4 + fill, opt.rdEnd);
  // the OPT's RDLENGTH sits just before its RDATA
  out.writeUInt16BE(opt.rdEnd - opt.rdStart + 4 + fill, opt.rdStart - 2);
  return out;
}

/**
 * A cached reply made fit for another query with the same (lowercased) question: its id,
 * its RD and CD bits, and its question name bytes (the asker's letter case).
 */
export function patchReply(cached: Buffer, query: Buffer, nameLength: number): Buffer {
  const out = Buffer.allocUnsafe(cached.length);
  out.set(cached);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = (cached[2]! & 0xfe) | (query[2]! & 0x01);
  out[3] = (cached[3]! & 0xef) | (query[3]! & 0x10);
  // a byte loop beats Buffer#copy's call overhead for a few dozen bytes
  for (let i = 12, end = 12 + nameLength; i < end; i++) out[i] = query[i]!;
  return out;
}
