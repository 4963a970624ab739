import { ipv6ToGroups, parseClientAddr } from './ip.ts';
import type { GeoDb, Location } from './location.ts';

/** One row of a static table: a CIDR and what it means. */
export interface GeoTableRow {
  cidr: string;
  country?: string;
  province?: string;
  city?: string;
  isp?: string;
  asn?: number;
}

function bitsOf(address: string, family: 4 | 6): number[] {
  if (family === 4) {
    const n = parseClientAddr(address).v4;
    return Array.from({ length: 32 }, (_, i) => (n >>> (31 - i)) & 1);
  }
  const g = ipv6ToGroups(address);
  return g.flatMap((x) => Array.from({ length: 16 }, (_, i) => (x >>> (15 - i)) & 1));
}

/**
 * A GeoDb from a fixed table of CIDRs (longest prefix wins). Used for tests, for private
 * networks ("10.1.0.0/16 is our Beijing office") and as the second GeoDb adapter.
 */
export class TableGeoDb implements GeoDb {
  private readonly rows: { family: 4 | 6; prefix: number; bits: number[]; row: GeoTableRow }[];

  constructor(rows: readonly GeoTableRow[]) {
    this.rows = rows
      .map((row) => {
        const a = parseClientAddr(row.cidr);
        return { family: a.family, prefix: a.prefix, bits: bitsOf(a.address, a.family), row };
      })
      .sort((x, y) => y.prefix - x.prefix);
  }

  lookup(ipOrSubnet: string): Location {
    const a = parseClientAddr(ipOrSubnet);
    const bits = bitsOf(a.address, a.family);
    for (const r of this.rows) {
      if (r.family !== a.family || r.prefix > a.prefix) continue;
      let ok = true;
      for (let i = 0; i < r.prefix; i++)
        if (r.bits[i] !== bits[i]) {
          ok = false;
          break;
        }
      if (!ok) continue;
      return {
        country: r.row.country ?? null,
        province: r.row.province ?? null,
        city: r.row.city ?? null,
        isp: r.row.isp ?? null,
        asn: r.row.asn ?? null,
        prefix: r.prefix,
        family: a.family,
        source: 'table',
      };
    }
    return {
      country: null,
      province: null,
      city: null,
      isp: null,
      asn: null,
      prefix: a.family === 4 ? 24 : 56,
      family: a.family,
      source: 'none',
    };
  }
}
