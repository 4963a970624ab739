import { defineErrors } from '../core/errors.ts';

export const geoErrors = defineErrors({
  ERR_GEO_BAD_IP: 'the value is not an IPv4 or IPv6 address (or address/prefix)',
  ERR_GEO_DB_OPEN: 'a geo database file could not be opened or has an unknown format',
  ERR_GEO_BAD_POLYGON: 'a geo-fence is not a valid GeoJSON Polygon or MultiPolygon',
});
