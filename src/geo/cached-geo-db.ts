import { LRUCache } from 'lru-cache';
import type { GeoDb, Location } from './location.ts';

/** An LRU in front of any GeoDb: resolvers repeat, and steering asks once per query. */
export class CachedGeoDb implements GeoDb {
  private readonly cache: LRUCache<string, Location>;

  constructor(
    private readonly inner: GeoDb,
    /** Addresses and subnets kept: resolvers and HTTPDNS clients repeat within minutes. */
    max = 65_536,
  ) {
    this.cache = new LRUCache({ max });
  }

  lookup(ipOrSubnet: string): Location {
    let loc = this.cache.get(ipOrSubnet);
    if (loc === undefined) {
      loc = Object.freeze(this.inner.lookup(ipOrSubnet));
      this.cache.set(ipOrSubnet, loc);
    }
    return loc;
  }
}
