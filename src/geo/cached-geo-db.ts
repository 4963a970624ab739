import { TwoGenerationCache } from '../core/two-generation-cache.ts';
import type { GeoDb, Location } from './location.ts';

/**
 * A cache in front of any GeoDb: resolvers repeat, and steering asks once per query. Two
 * generations of plain Maps (roughly LRU): lru-cache's get was a sixth of a DNS answer-cache
 * miss in a CPU profile, for bookkeeping this cache does not need.
 */
export class CachedGeoDb implements GeoDb {
  private readonly cache: TwoGenerationCache<string, Location>;

  constructor(
    private readonly inner: GeoDb,
    /** Addresses and subnets kept: resolvers and HTTPDNS clients repeat within minutes. */
    max = 65_536,
  ) {
    this.cache = new TwoGenerationCache(max);
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
