import * as crypto from 'node:crypto';

/**
 * One-shot SHA-256 (`crypto.hash`, Node ≥ 20.12): no Hash object per call. createHmac() and
 * createHash() build a stream-backed object each time, which is most of their cost on the
 * short texts we sign (~2 µs an HMAC of 300 bytes against ~1.2 µs here).
 */
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex' | 'latin1') => string }).hash;

const BLOCK = 64;

/** SHA-256 of `data` as lower-case hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/**
 * HMAC-SHA256 under one key, as RFC 2104 writes it — H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)) —
 * with the padded key blocks made once and two one-shot hashes per message. The scratch
 * buffers are reused: safe because a call runs to its end synchronously.
 */
export class HmacSha256 {
  private readonly key: Buffer;
  /** K ⊕ ipad, then room for the message. */
  private inner: Buffer;
  /** K ⊕ opad, then the inner digest. */
  private readonly outer: Buffer;

  constructor(key: Uint8Array | string) {
    this.key = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    // a key longer than the block is hashed first (RFC 2104 §2)
    const k = this.key.length > BLOCK ? crypto.createHash('sha256').update(this.key).digest() : this.key;
    this.inner = Buffer.alloc(BLOCK + 1024);
    this.outer = Buffer.alloc(BLOCK + 32);
    for (let i = 0; i < BLOCK; i++) {
      const b = k[i] ?? 0;
      this.inner[i] = b ^ 0x36;
      this.outer[i] = b ^ 0x5c;
    }
  }

  /** HMAC-SHA256 of the UTF-8 bytes of `text`, lower-case hex. */
  hex(text: string): string {
    if (!oneShot) return crypto.createHmac('sha256', this.key).update(text).digest('hex');
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: with that much room write() never truncates
    const room = BLOCK + text.length * 3;
    if (room > this.inner.length) {
      const grown = Buffer.alloc(Math.max(room, this.inner.length * 2));
      this.inner.copy(grown, 0, 0, BLOCK);
      this.inner = grown;
    }
    const n = this.inner.write(text, BLOCK, 'utf8');
    // latin1 carries the 32 digest bytes as they are, without a Buffer per call
    this.outer.write(oneShot('sha256', this.inner.subarray(0, BLOCK + n), 'latin1'), BLOCK, 'latin1');
    return oneShot('sha256', this.outer, 'hex');
  }
}
