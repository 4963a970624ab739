import { geoErrors } from './errors.ts';

/** A GeoJSON Polygon or MultiPolygon geometry ([lng, lat] positions). */
export type FenceGeometry =
  | { type: 'Polygon'; coordinates: number[][][] }
  | { type: 'MultiPolygon'; coordinates: number[][][][] };

/** Why a geometry is not a usable fence, or null when it is. */
export function polygonProblem(g: unknown): string | null {
  if (!g || typeof g !== 'object') return 'expected a GeoJSON geometry object';
  const geom = g as { type?: unknown; coordinates?: unknown };
  const polys =
    geom.type === 'Polygon'
      ? [geom.coordinates]
      : geom.type === 'MultiPolygon'
        ? (geom.coordinates as unknown[])
        : null;
  if (!polys) return `expected type "Polygon" or "MultiPolygon", found ${JSON.stringify(geom.type)}`;
  if (!Array.isArray(polys) || polys.length === 0) return 'coordinates are empty';
  for (const [pi, poly] of polys.entries()) {
    if (!Array.isArray(poly) || poly.length === 0) return `polygon ${pi} has no rings`;
    for (const [ri, ring] of (poly as unknown[]).entries()) {
      if (!Array.isArray(ring) || ring.length < 4)
        return `polygon ${pi} ring ${ri}: a linear ring needs at least 4 positions (found ${Array.isArray(ring) ? ring.length : 0})`;
      for (const [k, pos] of ring.entries()) {
        if (!Array.isArray(pos) || pos.length < 2 || !pos.every((x) => typeof x === 'number' && Number.isFinite(x)))
          return `polygon ${pi} ring ${ri} position ${k}: expected [lng, lat] numbers`;
        const [lng, lat] = pos as [number, number];
        if (lng < -180 || lng > 180 || lat < -90 || lat > 90)
          return `polygon ${pi} ring ${ri} position ${k}: [${lng}, ${lat}] is outside lng -180..180, lat -90..90`;
      }
      const a = ring[0] as number[];
      const b = ring[ring.length - 1] as number[];
      if (a[0] !== b[0] || a[1] !== b[1])
        return `polygon ${pi} ring ${ri} is not closed (first and last positions differ)`;
      if (ringArea(ring as number[][]) === 0) return `polygon ${pi} ring ${ri} has zero area`;
    }
  }
  return null;
}

function ringArea(ring: number[][]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++)
    a += ring[j]![0]! * ring[i]![1]! - ring[i]![0]! * ring[j]![1]!;
  return a / 2;
}

/** Ray casting: is [lng, lat] inside the ring? Points on an edge count as inside for one side only. */
function inRing(lng: number, lat: number, ring: number[][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const xi = ring[i]![0]!;
    const yi = ring[i]![1]!;
    const xj = ring[j]![0]!;
    const yj = ring[j]![1]!;
    if (yi > lat !== yj > lat && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A compiled fence: point-in-polygon with holes and a bounding-box precheck. */
export class GeoFence {
  private readonly polys: number[][][][];
  private readonly bbox: [number, number, number, number];

  constructor(
    readonly name: string,
    geometry: FenceGeometry,
  ) {
    const problem = polygonProblem(geometry);
    if (problem) throw geoErrors.ERR_GEO_BAD_POLYGON(`fence ${name}: ${problem}`);
    this.polys = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
    let [minX, minY, maxX, maxY] = [180, 90, -180, -90];
    for (const p of this.polys)
      for (const [x, y] of p[0]!) {
        minX = Math.min(minX, x!);
        maxX = Math.max(maxX, x!);
        minY = Math.min(minY, y!);
        maxY = Math.max(maxY, y!);
      }
    this.bbox = [minX, minY, maxX, maxY];
  }

  contains(lat: number, lng: number): boolean {
    const [minX, minY, maxX, maxY] = this.bbox;
    if (lng < minX || lng > maxX || lat < minY || lat > maxY) return false;
    for (const [outer, ...holes] of this.polys) {
      if (outer && inRing(lng, lat, outer) && !holes.some((h) => inRing(lng, lat, h))) return true;
    }
    return false;
  }
}

/** Parses 'lat,lng' (as sent in a header or query); null when malformed or out of range. */
export function parseLatLng(s: string): { lat: number; lng: number } | null {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(s);
  if (!m) return null;
  const lat = Number(m[1]);
  const lng = Number(m[2]);
  if (lat < -90 || lat > 90 || lng < -180 || lng > 180) return null;
  return { lat, lng };
}
