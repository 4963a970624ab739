import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ispId, provinceCode, SPECIAL_COUNTRY } from './cn-codes.ts';
import { type ClientAddr, intToIpv4, parseClientAddr, prefixWithin } from './ip.ts';
import { Ip2RegionV4, type RawRegion } from './ip2region-v4.ts';
import type { GeoDb, Location } from './location.ts';
import { WorldMmdb } from './world-mmdb.ts';

const require = createRequire(import.meta.url);

interface V6Searcher {
  search(ip: string): { country: string; province: string; city: string; isp: string } | null;
}

function packageDataDir(): string {
  return join(dirname(require.resolve('ip2region/package.json')), 'data');
}

/** ip2region (China: provinces, carriers) + DB-IP country mmdb (the world), normalised to ids. */
export class Ip2RegionGeoDb implements GeoDb {
  private readonly v4: Ip2RegionV4;
  private readonly world: WorldMmdb;
  private v6?: V6Searcher;
  /** Locations per ip2region record, precomputed (prefix filled per lookup). */
  private v4Locs: Omit<Location, 'prefix'>[];

  constructor(opts: { ip2regionV4?: string; mmdb?: string } = {}) {
    this.v4 = new Ip2RegionV4(opts.ip2regionV4 ?? join(packageDataDir(), 'ip2region.db'));
    this.world = new WorldMmdb(opts.mmdb);
    this.v4Locs = this.v4.records.map((r) => normalise(r, 4));
    this.learnForeignCountries();
  }

  /**
   * ip2region names foreign countries in Chinese only. Rather than asking the mmdb on every
   * lookup, map each Chinese name to the ISO code the mmdb gives for most of a sample of
   * its ranges (up to 31, majority vote), once at load. Names the vote can't settle keep
   * country null and fall back to the mmdb per lookup.
   */
  private learnForeignCountries(): void {
    const { starts, ends, recordIdx, records } = this.v4;
    const foreign = (i: number) => {
      const loc = this.v4Locs[recordIdx[i]!]!;
      const name = records[recordIdx[i]!]!.country;
      return loc.country === null && loc.source !== 'private' && name ? name : null;
    };
    // the two databases disagree on anycast and CDN ranges, so sample evenly across all of
    // a name's ranges (up to 31) rather than its first few
    const total = new Map<string, number>();
    for (let i = 0; i < starts.length; i++) {
      const name = foreign(i);
      if (name) total.set(name, (total.get(name) ?? 0) + 1);
    }
    const seen = new Map<string, number>();
    const samples = new Map<string, number[]>();
    for (let i = 0; i < starts.length; i++) {
      const name = foreign(i);
      if (!name) continue;
      const k = seen.get(name) ?? 0;
      seen.set(name, k + 1);
      const step = Math.ceil(total.get(name)! / 31);
      if (k % step !== 0) continue;
      let list = samples.get(name);
      if (!list) {
        list = [];
        samples.set(name, list);
      }
      list.push(starts[i]! + Math.floor((ends[i]! - starts[i]!) / 2));
    }
    const code = new Map<string, string>();
    for (const [name, ips] of samples) {
      const votes = new Map<string, number>();
      for (const ip of ips) {
        const [cc] = this.world.country(intToIpv4(ip));
        if (cc) votes.set(cc, (votes.get(cc) ?? 0) + 1);
      }
      const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
      if (best && best[1] * 2 > ips.length) code.set(name, best[0]);
    }
    this.v4Locs = this.v4Locs.map((loc, idx) => {
      const name = records[idx]!.country;
      return loc.country === null && code.has(name)
        ? { ...loc, country: code.get(name)!, source: 'ip2region+mmdb' }
        : loc;
    });
  }

  lookup(ipOrSubnet: string): Location {
    return this.lookupAddr(parseClientAddr(ipOrSubnet));
  }

  lookupAddr(a: ClientAddr): Location {
    if (a.family === 4) {
      const i = this.v4.find(a.v4);
      if (i < 0) return { ...unknown(4), ...this.worldOnly(a) };
      const base = this.v4Locs[this.v4.recordIdx[i]!]!;
      let prefix = prefixWithin(a.v4, this.v4.starts[i]!, this.v4.ends[i]!);
      if (base.country === null && base.source !== 'private') {
        // ip2region names foreign countries in Chinese only; the mmdb gives the ISO code
        const [cc, p] = this.world.country(a.address);
        prefix = Math.max(prefix, p);
        return { ...base, country: cc, prefix: Math.min(prefix, 32), source: cc ? 'mmdb' : base.source };
      }
      return {
        country: base.country,
        province: base.province,
        city: base.city,
        isp: base.isp,
        asn: base.asn,
        prefix,
        family: 4,
        source: base.source,
      };
    }
    this.v6 ??= new (require('ip2region/dist/lib/index.js').default)({}) as V6Searcher;
    const raw = this.v6.search(a.address);
    const [cc, p] = this.world.country(a.address);
    const loc = raw ? normalise(raw, 6) : unknown(6);
    const country = loc.country ?? cc;
    // ipv6wry gives no ranges; scope by the mmdb network, at most /56 (a typical site)
    return { ...loc, country, prefix: Math.min(Math.max(p, 32), 56), source: loc.province ? 'ip2region' : 'mmdb' };
  }

  private worldOnly(a: ClientAddr): Partial<Location> {
    const [cc, p] = this.world.country(a.address);
    return { country: cc, prefix: p, source: cc ? 'mmdb' : 'none' };
  }
}

function unknown(family: 4 | 6): Location {
  return {
    country: null,
    province: null,
    city: null,
    isp: null,
    asn: null,
    prefix: family === 4 ? 24 : 56,
    family,
    source: 'none',
  };
}

function normalise(r: RawRegion, family: 4 | 6): Omit<Location, 'prefix'> {
  if (r.city === '内网IP' || r.isp === '内网IP') {
    return { country: null, province: null, city: null, isp: null, asn: null, family, source: 'private' };
  }
  const inChina = r.country === '中国' || r.country === '';
  const province = inChina ? provinceCode(r.province) : null;
  let country: string | null = r.country === '中国' ? 'CN' : null;
  if (province && SPECIAL_COUNTRY[province]) country = SPECIAL_COUNTRY[province]!;
  if (!country && province) country = 'CN';
  const city = r.city || null;
  return {
    country,
    province,
    city,
    isp: ispId(r.isp),
    asn: null,
    family,
    source: 'ip2region',
  };
}
