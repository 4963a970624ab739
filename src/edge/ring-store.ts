/**
 * A cyclic object store in the spirit of Squid's COSS: one preallocated ring file, records
 * appended sequentially at a write head, an in-memory index, the oldest records overwritten
 * when the head wraps, and the index rebuilt after a restart by scanning the ring.
 *
 * Record layout (little-endian), aligned to BLOCK bytes:
 *   0 magic u32 'MZC1' | 4 flags u8 (1 = tombstone) | 8 seq f64 | 16 keyLen u32 | 20 metaLen u32
 *   24 bodyLen u32 | 28 headerCrc u32 (of bytes 0..27) | 32 payloadCrc u32 (of key+meta+body) | 36 pad
 *   40 key | meta | body
 * A torn write (process killed mid-record) leaves a header whose payload checksum fails: the
 * scan drops it, and reads re-check the checksum so a corrupt record is never served.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, read, readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { edgeErrors } from './errors.ts';

const MAGIC = 0x3143_5a4d; // 'MZC1' read as little-endian u32
const HEADER = 40;
const TOMBSTONE = 1;
const SCAN_CHUNK = 4 << 20;
// body bytes written per syscall: records reach the disk in pieces, as large writes do
const WRITE_CHUNK = 64 << 10;

/**
 * The ring file of one zone's edge: `{zone}` in `edge.disk.path` is replaced by the zone's
 * name; without it, a process that runs several zones gives each `<path>.<zone>`, since two
 * edges appending to one ring would overwrite each other's records.
 */
export function zoneRingPath(path: string, zone: string, zonesInProcess: number): string {
  if (path === '') return path;
  if (path.includes('{zone}')) return path.replaceAll('{zone}', zone);
  return zonesInProcess > 1 ? `${path}.${zone}` : path;
}

/** Options of a ring store. */
export interface RingStoreOptions {
  path: string;
  /** Ring size in bytes (preallocated); rounded down to a multiple of blockBytes. */
  sizeBytes: number;
  /** Record alignment; the scan probes every block boundary. */
  blockBytes?: number;
}

interface Entry {
  id: string;
  off: number;
  len: number;
  seq: number;
  metaLen: number;
  bodyLen: number;
  keyLen: number;
}

/** Counters a ring store keeps. */
export interface RingStats {
  records: number;
  /** Records dropped by the scan or a read because a checksum failed. */
  corrupt: number;
  /** Live records lost because the head wrapped over them. */
  overwritten: number;
  wraps: number;
  head: number;
}

/**
 * The cyclic disk store: positional reads and writes on one fd. Writes and the startup scan are
 * synchronous; hits read with getAsync() so a disk-tier hit does not block the loop.
 */
export class RingStore {
  private readonly fd: number;
  readonly size: number;
  private readonly block: number;
  private readonly index = new Map<string, Entry>();
  /** Live records in write order: the front is the oldest, the next to be overwritten. */
  private fifo: Entry[] = [];
  private fifoStart = 0;
  private head = 0;
  private seq = 1;
  /** Asynchronous reads in flight, and whether close() was called (the fd closes after them). */
  private reading = 0;
  private closed = false;
  readonly stats: RingStats = { records: 0, corrupt: 0, overwritten: 0, wraps: 0, head: 0 };
  /** Called with the id of a live record the ring overwrote. */
  onOverwrite: ((id: string) => void) | undefined;

  private constructor(fd: number, size: number, block: number) {
    this.fd = fd;
    this.size = size;
    this.block = block;
  }

  /** Opens (creating and preallocating if needed) the ring file and rebuilds the index. */
  static open(opts: RingStoreOptions): RingStore {
    const block = opts.blockBytes ?? 512;
    const size = Math.floor(opts.sizeBytes / block) * block;
    if (size < block * 4)
      throw edgeErrors.ERR_EDGE_STORE_OPEN(`edge/disk: ring of ${opts.sizeBytes} bytes is too small`);
    let fd: number;
    try {
      fd = openSync(opts.path, 'a+');
      closeSync(fd);
      fd = openSync(opts.path, 'r+');
      if (fstatSync(fd).size !== size) ftruncateSync(fd, size);
    } catch (e) {
      throw edgeErrors.ERR_EDGE_STORE_OPEN(`edge/disk: cannot open ${opts.path}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const s = new RingStore(fd, size, block);
    s.scan();
    return s;
  }

  /** The largest record this ring accepts (a quarter of the ring keeps several objects live). */
  get maxRecordBytes(): number {
    return Math.floor(this.size / 4);
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  keys(): IterableIterator<string> {
    return this.index.keys();
  }

  get count(): number {
    return this.index.size;
  }

  /** Appends a record; returns false when it is too large for the ring. */
  put(id: string, meta: Buffer, body: Buffer): boolean {
    return this.append(id, meta, body, 0);
  }

  /** Deletes a record durably (a tombstone, so a restart does not resurrect it). */
  delete(id: string): void {
    if (!this.index.has(id)) return;
    this.index.delete(id);
    this.append(id, Buffer.alloc(0), Buffer.alloc(0), TOMBSTONE);
  }

  /** Reads a record's meta and body, checking its payload checksum; undefined if absent or corrupt. */
  get(id: string): { meta: Buffer; body: Buffer } | undefined {
    const e = this.index.get(id);
    if (!e) return undefined;
    const payloadLen = e.keyLen + e.metaLen + e.bodyLen;
    const buf = Buffer.allocUnsafe(HEADER + payloadLen);
    readSync(this.fd, buf, 0, buf.length, e.off);
    const payload = buf.subarray(HEADER);
    if (buf.readUInt32LE(0) !== MAGIC || buf.readDoubleLE(8) !== e.seq || crc32(payload) !== buf.readUInt32LE(32)) {
      this.stats.corrupt++;
      this.index.delete(id);
      return undefined;
    }
    return {
      meta: payload.subarray(e.keyLen, e.keyLen + e.metaLen),
      body: payload.subarray(e.keyLen + e.metaLen),
    };
  }

  /**
   * Reads a record like get(), without blocking the event loop (a positional read on the
   * thread pool). Undefined if absent, corrupt, or replaced or overwritten while it was read.
   */
  getAsync(id: string): Promise<{ meta: Buffer; body: Buffer } | undefined> {
    const e = this.index.get(id);
    if (!e || this.closed) return Promise.resolve(undefined);
    const payloadLen = e.keyLen + e.metaLen + e.bodyLen;
    const buf = Buffer.allocUnsafe(HEADER + payloadLen);
    this.reading++;
    return new Promise((resolve) => {
      read(this.fd, buf, 0, buf.length, e.off, (err, n) => {
        // close() waits for reads in flight: the fd must not be reused under them
        if (--this.reading === 0 && this.closed) closeSync(this.fd);
        // the head may have wrapped over the record meanwhile: then it is gone, not corrupt
        if (this.index.get(id) !== e) return resolve(undefined);
        const payload = buf.subarray(HEADER);
        if (
          err ||
          n !== buf.length ||
          buf.readUInt32LE(0) !== MAGIC ||
          buf.readDoubleLE(8) !== e.seq ||
          crc32(payload) !== buf.readUInt32LE(32)
        ) {
          this.stats.corrupt++;
          this.index.delete(id);
          return resolve(undefined);
        }
        resolve({
          meta: payload.subarray(e.keyLen, e.keyLen + e.metaLen),
          body: payload.subarray(e.keyLen + e.metaLen),
        });
      });
    });
  }

  /** Reads only a record's meta (for rebuilding higher-level indexes at startup). */
  meta(id: string): Buffer | undefined {
    return this.get(id)?.meta;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reading === 0) closeSync(this.fd);
  }

  private align(n: number): number {
    return Math.ceil(n / this.block) * this.block;
  }

  private append(id: string, meta: Buffer, body: Buffer, flags: number): boolean {
    const key = Buffer.from(id);
    const payloadLen = key.length + meta.length + body.length;
    const len = this.align(HEADER + payloadLen);
    if (len > this.maxRecordBytes) return false;
    let off = this.head;
    if (off + len > this.size) {
      this.reclaim(off, this.size);
      off = 0;
      this.stats.wraps++;
    }
    this.reclaim(off, off + len);
    const seq = this.seq++;
    const head = Buffer.alloc(HEADER + key.length + meta.length);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt8(flags, 4);
    head.writeDoubleLE(seq, 8);
    head.writeUInt32LE(key.length, 16);
    head.writeUInt32LE(meta.length, 20);
    head.writeUInt32LE(body.length, 24);
    head.writeUInt32LE(crc32(head.subarray(0, 28)), 28);
    key.copy(head, HEADER);
    meta.copy(head, HEADER + key.length);
    head.writeUInt32LE(crc32(body, crc32(head.subarray(HEADER))), 32);
    writeSync(this.fd, head, 0, head.length, off);
    for (let p = 0; p < body.length; p += WRITE_CHUNK)
      writeSync(this.fd, body, p, Math.min(WRITE_CHUNK, body.length - p), off + head.length + p);
    this.head = off + len;
    this.stats.head = this.head;
    if (flags & TOMBSTONE) return true;
    const e: Entry = { id, off, len, seq, keyLen: key.length, metaLen: meta.length, bodyLen: body.length };
    const prev = this.index.get(id);
    if (!prev) this.stats.records++;
    this.index.set(id, e);
    this.fifo.push(e);
    return true;
  }

  /** Drops index entries of live records in [from, to) of the current lap, oldest first. */
  private reclaim(from: number, to: number): void {
    while (this.fifoStart < this.fifo.length) {
      const e = this.fifo[this.fifoStart]!;
      if (e.off < from || e.off >= to) break;
      this.fifoStart++;
      if (this.index.get(e.id) === e) {
        this.index.delete(e.id);
        this.stats.overwritten++;
        this.onOverwrite?.(e.id);
      }
    }
    if (this.fifoStart > 1024 && this.fifoStart * 2 > this.fifo.length) {
      this.fifo = this.fifo.slice(this.fifoStart);
      this.fifoStart = 0;
    }
  }

  /** Rebuilds the index: every block boundary is probed; records whose checksums fail are dropped. */
  private scan(): void {
    const found: (Entry & { flags: number })[] = [];
    const chunk = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, this.size));
    const head = Buffer.allocUnsafe(HEADER);
    for (let base = 0; base < this.size; base += chunk.length) {
      const n = readSync(this.fd, chunk, 0, Math.min(chunk.length, this.size - base), base);
      for (let i = 0; i + 4 <= n; i += this.block) {
        if (chunk.readUInt32LE(i) !== MAGIC) continue;
        const off = base + i;
        // the header may straddle chunks: read it on its own
        readSync(this.fd, head, 0, HEADER, off);
        if (crc32(head.subarray(0, 28)) !== head.readUInt32LE(28)) {
          this.stats.corrupt++;
          continue;
        }
        const keyLen = head.readUInt32LE(16);
        const metaLen = head.readUInt32LE(20);
        const bodyLen = head.readUInt32LE(24);
        const len = this.align(HEADER + keyLen + metaLen + bodyLen);
        if (off + len > this.size) {
          this.stats.corrupt++;
          continue;
        }
        const payload = Buffer.allocUnsafe(keyLen + metaLen + bodyLen);
        readSync(this.fd, payload, 0, payload.length, off + HEADER);
        if (crc32(payload) !== head.readUInt32LE(32)) {
          this.stats.corrupt++;
          continue;
        }
        found.push({
          id: payload.toString('utf8', 0, keyLen),
          off,
          len,
          seq: head.readDoubleLE(8),
          keyLen,
          metaLen,
          bodyLen,
          flags: head.readUInt8(4),
        });
      }
    }
    found.sort((a, b) => a.seq - b.seq);
    for (const r of found) {
      if (r.flags & TOMBSTONE) this.index.delete(r.id);
      else this.index.set(r.id, r);
    }
    // live records in write order; overlapping stale ones (an older lap) are already superseded
    this.fifo = found.filter((r) => !(r.flags & TOMBSTONE) && this.index.get(r.id) === r);
    const last = found[found.length - 1];
    if (last) {
      this.seq = last.seq + 1;
      this.head = last.off + last.len;
      // records physically behind the head but older than the newest lap are still live; the
      // FIFO must start at the first one after the head so reclaim pops them in ring order
      const after = this.fifo.filter((e) => e.off >= this.head);
      const before = this.fifo.filter((e) => e.off < this.head);
      this.fifo = [...after.sort((a, b) => a.off - b.off), ...before.sort((a, b) => a.off - b.off)];
    }
    this.stats.records = this.index.size;
    this.stats.head = this.head;
  }
}
