/** Geo: IP → country, province, city, carrier; geo-fences. See README.md. */
import { CachedGeoDb } from './cached-geo-db.ts';
import { Ip2RegionGeoDb } from './ip2region-geo-db.ts';
import type { GeoDb } from './location.ts';

export { CachedGeoDb } from './cached-geo-db.ts';
export { ISP_IDS, ispId, PROVINCE_CODES, provinceCode } from './cn-codes.ts';
export { geoErrors } from './errors.ts';
export { type FenceGeometry, GeoFence, parseLatLng, polygonProblem } from './fence.ts';
export { type ClientAddr, intToIpv4, makeAddr, parseClientAddr, parseIpv4 } from './ip.ts';
export { Ip2RegionGeoDb } from './ip2region-geo-db.ts';
export type { GeoDb, Location } from './location.ts';
export { type GeoTableRow, TableGeoDb } from './table-geo-db.ts';

let shared: GeoDb | undefined;

/** The default geo database (ip2region + DB-IP country), loaded once per process, with an LRU. */
export function defaultGeoDb(): GeoDb {
  shared ??= new CachedGeoDb(new Ip2RegionGeoDb());
  return shared;
}
