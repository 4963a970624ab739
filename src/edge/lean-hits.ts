/**
 * The lean hit path: the edge's plain-HTTP listener reads each new connection itself, parses
 * request heads with the strict parser in wire/request-head.ts, and answers the requests that
 * are cache hits straight from the stored object — a header block serialised once per stored
 * field list, Age and Cache-Status appended, corked writes, pipelined requests answered in
 * order. The first request it does not serve (a miss, anything unusual, anything its parser
 * does not accept) hands the connection to node:http for good: the bytes not yet answered are
 * put back (`socket.unshift`) and node:http's own connection listener takes the socket, so
 * that request and every later one on the connection take the node:http path unchanged. The
 * lean path only ever consumes whole requests, so the switch is exact.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { type HeadLimits, type ParsedHead, parseRequestHead } from './wire/request-head.ts';

/** A hit the edge will serve on the lean path. */
export interface LeanReply {
  status: number;
  /** Fields before Age and Cache-Status (a stored object's own list is serialised once). */
  flat: readonly string[];
  /** Fields after Cache-Status (e.g. accept-ranges). */
  after: readonly string[];
  body: Buffer | undefined;
  /** Age value; undefined: no Age field. */
  age: string | undefined;
  cacheStatus: string;
}

/** The edge's answer to one parsed head: a reply, or the reason to hand the connection to node:http. */
export type LeanAnswer = LeanReply | { handoff: string };

/** What the lean path asks of the edge. */
export interface LeanHost {
  limits: HeadLimits;
  /** Idle keep-alive time of a lean connection, ms (node:http's keepAliveTimeout). */
  keepAliveMs: number;
  /** Decides one request: a hit reply, a handoff, or a promise of either (a disk-tier read). */
  answer(head: ParsedHead, socket: Socket): LeanAnswer | Promise<LeanAnswer>;
  /** The reply was written: count it (metrics, hooks). */
  served(reply: LeanReply, head: ParsedHead): void;
  /** The current Date field value (for replies whose stored fields have none, as node:http adds it). */
  date(): string;
  /** Gives the socket (its unanswered bytes put back) to node:http, for good. */
  handoff(socket: Socket, reason: string): void;
}

/** A serialised status line and field block, and whether it has a Date field. */
interface HeadBlock {
  bytes: Buffer;
  hasDate: boolean;
}

// one block per field list: a stored object's list lives as long as the object, so the block
// is dropped with it (a 304 merge or a refetch makes a new object and a new list)
const blocks = new WeakMap<readonly string[], Map<number, HeadBlock | null>>();

const FIELD_VALUE_OK = /^[\t\x20-\x7e\x80-\xff]*$/;
const FIELD_NAME_OK = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The status line and fields of a reply as bytes, serialised once per field list and status;
 * null when a stored field could not be written (node:http would refuse it too: such replies
 * go to node:http).
 */
export function headBlock(status: number, flat: readonly string[]): HeadBlock | null {
  let byStatus = blocks.get(flat);
  let b = byStatus?.get(status);
  if (b !== undefined) return b;
  b = serialise(status, flat);
  if (!byStatus) {
    byStatus = new Map();
    blocks.set(flat, byStatus);
  }
  byStatus.set(status, b);
  return b;
}

function serialise(status: number, flat: readonly string[]): HeadBlock | null {
  let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  let hasDate = false;
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    const v = flat[i + 1]!;
    if (!FIELD_NAME_OK.test(k) || !FIELD_VALUE_OK.test(v)) return null;
    if (k === 'date') hasDate = true;
    s += `${k}: ${v}\r\n`;
  }
  return { bytes: Buffer.from(s, 'latin1'), hasDate };
}

/** Bodies up to this size are copied into the reply's one buffer; larger ones are written as they are. */
const COPY_BODY = 16 << 10;

/** Bytes written and not yet taken by a client that sends no more pipelined requests, before the lean path stops reading. */
const MAX_UNREAD = 1 << 20;

function uncork(sock: Socket): void {
  while (sock.writableCorked) sock.uncork();
}

/** Takes a freshly accepted socket onto the lean path. */
export function acceptLean(socket: Socket, host: LeanHost): void {
  new LeanConnection(socket, host);
}

/** One connection while the lean path owns it. */
class LeanConnection {
  /** Received bytes not answered yet (starting at a request boundary). */
  private pending: Buffer | undefined;
  /** Waiting for a disk read or for the client to drain what was written. */
  private busy = false;
  private ended = false;
  private readonly keepAlive: string;
  private readonly onData = (chunk: Buffer) => {
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    if (!this.busy) this.run();
  };
  private readonly onEnd = () => {
    this.ended = true;
    if (!this.busy) this.socket.end();
  };
  private readonly onTimeout = () => {
    // a head still arriving goes to node:http, whose header timeouts apply; an idle one closes
    if (this.pending && !this.busy) this.handoff('slow-head');
    else this.socket.destroy();
  };
  private readonly onError = () => {
    this.socket.destroy();
  };

  constructor(
    private readonly socket: Socket,
    private readonly host: LeanHost,
  ) {
    this.keepAlive = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(host.keepAliveMs / 1000)}\r\n\r\n`;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.setTimeout(host.keepAliveMs);
  }

  /**
   * Answers every complete request in `pending`, in order; when several arrived together (a
   * pipelined batch) their replies go out in one corked write.
   */
  private run(): void {
    const sock = this.socket;
    let buf = this.pending;
    if (!buf || sock.destroyed) return;
    let p = 0;
    try {
      while (p < buf.length) {
        const head = parseRequestHead(buf, p, this.host.limits);
        if (head.kind === 'incomplete') break;
        if (head.kind === 'handoff') {
          this.pending = buf.subarray(p);
          uncork(sock);
          this.handoff(head.reason);
          return;
        }
        let a: LeanAnswer | Promise<LeanAnswer>;
        try {
          a = this.host.answer(head, sock);
        } catch {
          a = { handoff: 'error' };
        }
        if (a instanceof Promise) {
          // a disk-tier read: hold the connection (later requests wait, in order) until it lands
          this.pending = buf.subarray(p);
          this.busy = true;
          sock.pause();
          const base = p;
          a.then(
            (r) => this.afterRead(r, head, base),
            () => this.afterRead({ handoff: 'error' }, head, base),
          );
          return;
        }
        if (head.end < buf.length && !sock.writableCorked) sock.cork();
        if ('handoff' in a || !this.write(a, head)) {
          this.pending = buf.subarray(p);
          uncork(sock);
          this.handoff('handoff' in a ? a.handoff : 'stored-field');
          return;
        }
        p = head.end;
        if (head.close) {
          this.pending = undefined;
          sock.end();
          return;
        }
        if (sock.writableNeedDrain && (p < buf.length || sock.writableLength > MAX_UNREAD)) {
          // the client is not reading what it asked for: stop until it does (node:http pauses the same way)
          this.pending = p < buf.length ? buf.subarray(p) : undefined;
          this.busy = true;
          sock.pause();
          sock.once('drain', () => this.resume());
          return;
        }
      }
      if (p >= buf.length) buf = undefined;
      else if (buf.length - p > this.host.limits.maxHeaderBytes + 2) {
        // more than a head's worth without a whole head: let node:http answer it (431)
        this.pending = buf.subarray(p);
        uncork(sock);
        this.handoff('too-large');
        return;
      } else buf = buf.subarray(p);
      this.pending = buf;
      if (this.ended && !this.pending) sock.end();
    } finally {
      uncork(sock);
    }
  }

  private afterRead(a: LeanAnswer, head: ParsedHead, base: number): void {
    const sock = this.socket;
    if (sock.destroyed) return;
    if ('handoff' in a || !this.write(a, head)) {
      this.busy = false;
      this.handoff('handoff' in a ? a.handoff : 'stored-field');
      return;
    }
    this.pending = this.pending!.subarray(head.end - base);
    if (this.pending.length === 0) this.pending = undefined;
    if (head.close) {
      this.pending = undefined;
      sock.end();
      return;
    }
    this.resume();
  }

  private resume(): void {
    this.busy = false;
    if (this.socket.destroyed) return;
    this.socket.resume();
    if (this.pending) this.run();
    else if (this.ended) this.socket.end();
  }

  /** Writes one reply; false (nothing written) when its fields cannot be serialised. */
  private write(r: LeanReply, head: ParsedHead): boolean {
    const block = headBlock(r.status, r.flat);
    if (!block) return false;
    let tail = block.hasDate ? '' : `date: ${this.host.date()}\r\n`;
    if (r.age !== undefined) tail += `age: ${r.age}\r\n`;
    tail += `cache-status: ${r.cacheStatus}\r\n`;
    for (let i = 0; i < r.after.length; i += 2) tail += `${r.after[i]}: ${r.after[i + 1]}\r\n`;
    tail += head.close ? 'connection: close\r\n\r\n' : this.keepAlive;
    const sock = this.socket;
    const bodyLen = r.body ? r.body.length : 0;
    if (bodyLen <= COPY_BODY) {
      // one buffer, one write: copying a small body costs less than a vectored write's bookkeeping
      const size = block.bytes.length + tail.length + bodyLen;
      const out = Buffer.allocUnsafe(size);
      let at = block.bytes.copy(out, 0);
      at += out.write(tail, at, 'latin1');
      if (bodyLen) r.body!.copy(out, at);
      sock.write(out);
    } else {
      sock.write(block.bytes);
      sock.write(tail, 'latin1');
      sock.write(r.body!);
    }
    this.host.served(r, head);
    return true;
  }

  /** Hands the socket, with the bytes not answered, to node:http. */
  private handoff(reason: string): void {
    const sock = this.socket;
    sock.off('data', this.onData);
    sock.off('end', this.onEnd);
    sock.off('timeout', this.onTimeout);
    sock.off('error', this.onError);
    sock.setTimeout(0);
    if (this.ended || sock.destroyed) {
      sock.destroy();
      return;
    }
    if (this.pending) sock.unshift(this.pending);
    this.pending = undefined;
    if (sock.isPaused()) sock.resume();
    this.host.handoff(sock, reason);
  }
}
