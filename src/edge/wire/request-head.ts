/**
 * A small, strict HTTP/1.1 request-head parser for the lean hit path (bytes in, a parsed head
 * or a verdict out; no sockets). It accepts only what a plain cache hit needs — `GET` or
 * `HEAD`, an origin-form target, `HTTP/1.1`, CRLF line ends, token field names, visible-ASCII
 * field values, one line per field, a Host — and answers `handoff` for everything else, so the
 * request goes to node:http unchanged, whose parser and the edge's filters answer or reject it
 * as before. It never rejects anything itself: what it accepts is a strict subset of what
 * node:http accepts, read the same way.
 */

/** The limits a head must stay within (edge.limits); beyond them node:http answers 414/431. */
export interface HeadLimits {
  maxHeaderBytes: number;
  maxHeaders: number;
  maxUrlBytes: number;
}

/** A complete request head the lean path may serve. */
export interface ParsedHead {
  kind: 'request';
  method: 'GET' | 'HEAD';
  /** The request target as sent (origin-form). */
  target: string;
  /** Field values by lowercase name (one line each: a repeated name is a handoff). */
  headers: Record<string, string>;
  /** [name, value, …] as sent, as node's `req.rawHeaders`. */
  rawHeaders: string[];
  /** The client sent `Connection: close`. */
  close: boolean;
  /** Offset just past the head's empty line: where the next pipelined request starts. */
  end: number;
}

/** Why a head goes to node:http (the label of `mz_edge_lean_handoffs_total`). */
export type HandoffReason =
  | 'method'
  | 'target'
  | 'version'
  | 'line-end'
  | 'obs-fold'
  | 'field-name'
  | 'field-value'
  | 'duplicate'
  | 'body'
  | 'upgrade'
  | 'expect'
  | 'connection'
  | 'no-host'
  | 'too-large';

/** The parse result: a head, more bytes needed, or hand the connection to node:http. */
export type HeadResult = ParsedHead | { kind: 'incomplete' } | { kind: 'handoff'; reason: HandoffReason };

const INCOMPLETE = { kind: 'incomplete' } as const;
const handoff = (reason: HandoffReason) => ({ kind: 'handoff', reason }) as const;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** tchar (RFC 9110 §5.6.2) by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** Bytes of an origin-form target (RFC 3986 pchar, '/' and '?'); anything else goes to node:http. */
const TARGET = new Uint8Array(256);
for (const c of "-._~%!$&'()*+,;=:@/?") TARGET[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TARGET[c] = 1;
for (let c = 65; c <= 90; c++) TARGET[c] = 1;
for (let c = 97; c <= 122; c++) TARGET[c] = 1;

/** Fields whose presence means something other than a plain GET/HEAD: the request goes to node:http. */
const HANDOFF_FIELDS = new Map<string, HandoffReason>([
  ['content-length', 'body'],
  ['transfer-encoding', 'body'],
  ['upgrade', 'upgrade'],
  ['http2-settings', 'upgrade'],
  ['expect', 'expect'],
]);

/**
 * Parses one request head starting at `start`. `incomplete` when the head is not all there yet
 * (and is still within the limits); `handoff` as soon as the bytes show something the lean
 * path does not serve.
 *
 *   "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b…" → { method: 'GET', target: '/a', end: 29, … }
 */
export function parseRequestHead(buf: Buffer, start: number, limits: HeadLimits): HeadResult {
  const len = buf.length;
  // the request line: METHOD SP origin-form SP HTTP/1.1 CRLF
  let p = start;
  let method: 'GET' | 'HEAD';
  if (len - p < 5)
    return prefixOf(buf, p, len, 'GET ') || prefixOf(buf, p, len, 'HEAD ') ? INCOMPLETE : handoff('method');
  if (buf[p] === 71 && buf[p + 1] === 69 && buf[p + 2] === 84 && buf[p + 3] === SP) {
    method = 'GET';
    p += 4;
  } else if (buf[p] === 72 && buf[p + 1] === 69 && buf[p + 2] === 65 && buf[p + 3] === 68 && buf[p + 4] === SP) {
    method = 'HEAD';
    p += 5;
  } else return handoff('method');
  const tStart = p;
  if (p < len && buf[p] !== 47 /* '/' */) return handoff('target');
  while (p < len) {
    const c = buf[p]!;
    if (c === SP) break;
    if (TARGET[c] !== 1) return handoff('target');
    p++;
  }
  if (p - tStart > limits.maxUrlBytes) return handoff('too-large');
  if (p >= len) return p - start > limits.maxHeaderBytes ? handoff('too-large') : INCOMPLETE;
  const tEnd = p;
  if (tEnd === tStart) return handoff('target');
  p++;
  // "HTTP/1.1\r\n"
  for (let i = 0; i < 10; i++, p++) {
    if (p >= len) return INCOMPLETE;
    if (buf[p] !== VERSION_LINE[i]) return i >= 8 ? handoff('line-end') : handoff('version');
  }
  const target = buf.toString('latin1', tStart, tEnd);
  const headers: Record<string, string> = Object.create(null);
  const rawHeaders: string[] = [];
  let close = false;
  let count = 0;
  for (;;) {
    if (p - start > limits.maxHeaderBytes) return handoff('too-large');
    if (p >= len) return INCOMPLETE;
    const first = buf[p]!;
    if (first === CR) {
      if (p + 1 >= len) return INCOMPLETE;
      if (buf[p + 1] !== LF) return handoff('line-end');
      p += 2;
      break;
    }
    if (first === SP || first === HT) return handoff('obs-fold');
    // field-name ":" OWS field-value OWS CRLF
    const nStart = p;
    while (p < len && TCHAR[buf[p]!] === 1) p++;
    if (p >= len) return p - start > limits.maxHeaderBytes ? handoff('too-large') : INCOMPLETE;
    if (buf[p] !== 58 /* ':' */ || p === nStart) return buf[p] === LF ? handoff('line-end') : handoff('field-name');
    const nEnd = p;
    p++;
    while (p < len && (buf[p] === SP || buf[p] === HT)) p++;
    const vStart = p;
    let vEnd = p;
    for (;;) {
      if (p >= len) return p - start > limits.maxHeaderBytes ? handoff('too-large') : INCOMPLETE;
      const c = buf[p]!;
      if (c === CR) break;
      if (c === LF) return handoff('line-end');
      if (c === SP || c === HT) {
        p++;
        continue;
      }
      if (c < 0x21 || c > 0x7e) return handoff('field-value');
      p++;
      vEnd = p;
    }
    if (p + 1 >= len) return INCOMPLETE;
    if (buf[p + 1] !== LF) return handoff('line-end');
    p += 2;
    if (++count > limits.maxHeaders) return handoff('too-large');
    const rawName = buf.toString('latin1', nStart, nEnd);
    const name = lower(rawName);
    const value = buf.toString('latin1', vStart, vEnd);
    if (headers[name] !== undefined) return handoff('duplicate');
    const special = HANDOFF_FIELDS.get(name);
    if (special !== undefined) return handoff(special);
    if (name === 'connection') {
      const v = value.toLowerCase();
      if (v === 'close') close = true;
      else if (v !== 'keep-alive') return handoff('connection');
    }
    headers[name] = value;
    rawHeaders.push(rawName, value);
  }
  if (p - start > limits.maxHeaderBytes) return handoff('too-large');
  if (headers.host === undefined) return handoff('no-host');
  return { kind: 'request', method, target, headers, rawHeaders, close, end: p };
}

const VERSION_LINE = Buffer.from('HTTP/1.1\r\n');

/** Are the bytes buf[p..len) a prefix of `word` (more bytes may still make it)? */
function prefixOf(buf: Buffer, p: number, len: number, word: string): boolean {
  for (let i = 0; p + i < len; i++) if (i >= word.length || buf[p + i] !== word.charCodeAt(i)) return false;
  return true;
}

// most requests carry the same few field names: remember their lowercase forms
const lowerMemo = new Map<string, string>();

function lower(name: string): string {
  let l = lowerMemo.get(name);
  if (l === undefined) {
    l = name.toLowerCase();
    if (lowerMemo.size < 512) lowerMemo.set(name, l);
  }
  return l;
}
