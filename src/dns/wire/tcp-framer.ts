/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by a
 * two-byte length. Pure: feed bytes as they arrive, get whole messages out, in order.
 */

/** Smallest frame that can hold a DNS header; anything shorter is garbage. */
export const MIN_FRAME = 12;
/** Largest query we accept: real queries are a few hundred bytes; this caps buffering per connection. */
export const MAX_QUERY_FRAME = 16384;

export class TcpFramer {
  private pending: Buffer = Buffer.alloc(0);

  /**
   * Appends a chunk and returns the complete messages it finishes (possibly none), or
   * 'garbage' when a frame announces fewer bytes than a DNS header or more than
   * MAX_QUERY_FRAME (the caller closes the connection).
   */
  push(chunk: Buffer): Buffer[] | 'garbage' {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (len < MIN_FRAME || len > MAX_QUERY_FRAME) return 'garbage';
      if (buf.length < 2 + len) break;
      out.push(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
    }
    // copy the tail so a large chunk isn't kept alive by a small remainder
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return out;
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.pending.length;
  }
}

/** Prefixes a message with its two-byte length. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}
