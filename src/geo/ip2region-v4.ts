import { readFileSync } from 'node:fs';
import { geoErrors } from './errors.ts';

/** One ip2region data record, decoded once at load: 'country|region|province|city|isp'. */
export interface RawRegion {
  country: string;
  province: string;
  city: string;
  isp: string;
}

/**
 * ip2region's v1 .db (IPv4) loaded into typed arrays: a binary search over `starts`
 * gives the range and its pre-decoded record, with no string work on the hot path.
 * We read the file ourselves (instead of the package's searcher) because ECS needs the
 * range bounds to compute a scope prefix, and because it is ~20x faster.
 */
export class Ip2RegionV4 {
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  readonly recordIdx: Uint32Array;
  readonly records: RawRegion[] = [];

  constructor(file: string) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (e) {
      throw geoErrors.ERR_GEO_DB_OPEN(`cannot read ip2region db ${file}`, { cause: e });
    }
    const first = data.readUInt32LE(0);
    const last = data.readUInt32LE(4);
    const n = (last - first) / 12 + 1;
    if (!Number.isInteger(n) || n <= 0 || last + 12 > data.length) {
      throw geoErrors.ERR_GEO_DB_OPEN(`${file} is not an ip2region v1 database`);
    }
    this.starts = new Uint32Array(n);
    this.ends = new Uint32Array(n);
    this.recordIdx = new Uint32Array(n);
    const byPtr = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const pos = first + i * 12;
      this.starts[i] = data.readUInt32LE(pos);
      this.ends[i] = data.readUInt32LE(pos + 4);
      const ptr = data.readUInt32LE(pos + 8);
      let idx = byPtr.get(ptr);
      if (idx === undefined) {
        const len = (ptr >>> 24) & 0xff;
        const off = ptr & 0xffffff;
        const parts = data.toString('utf8', off + 4, off + len).split('|');
        const f = (k: number) => (parts[k] && parts[k] !== '0' ? parts[k]! : '');
        idx = this.records.length;
        this.records.push({ country: f(0), province: f(2), city: f(3), isp: f(4) });
        byPtr.set(ptr, idx);
      }
      this.recordIdx[i] = idx;
    }
  }

  /** Index of the range holding ip, or -1. */
  find(ip: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ip < s[mid]!) hi = mid - 1;
      else if (ip > this.ends[mid]!) lo = mid + 1;
      else return mid;
    }
    return -1;
  }
}
