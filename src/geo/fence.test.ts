import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GeoFence, parseLatLng, polygonProblem } from './fence.ts';
import { parseClientAddr } from './ip.ts';

const square = {
  type: 'Polygon' as const,
  coordinates: [
    [
      [0, 0],
      [10, 0],
      [10, 10],
      [0, 10],
      [0, 0],
    ],
  ],
};

test('geo/fence: point in polygon, with holes and multipolygons', () => {
  const f = new GeoFence('sq', square);
  assert.equal(f.contains(5, 5), true);
  assert.equal(f.contains(11, 5), false);
  assert.equal(f.contains(-1, -1), false);
  const holed = new GeoFence('holed', {
    type: 'Polygon',
    coordinates: [
      square.coordinates[0]!,
      [
        [4, 4],
        [6, 4],
        [6, 6],
        [4, 6],
        [4, 4],
      ],
    ],
  });
  assert.equal(holed.contains(5, 5), false);
  assert.equal(holed.contains(2, 2), true);
  const multi = new GeoFence('multi', {
    type: 'MultiPolygon',
    coordinates: [
      square.coordinates,
      [
        [
          [20, 20],
          [30, 20],
          [30, 30],
          [20, 30],
          [20, 20],
        ],
      ],
    ],
  });
  assert.equal(multi.contains(25, 25), true);
  assert.equal(multi.contains(15, 15), false);
});

test('geo/fence: invalid polygons are named precisely', () => {
  assert.match(polygonProblem({ type: 'Point', coordinates: [1, 2] }) ?? '', /Polygon/);
  assert.match(
    polygonProblem({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [1, 0],
          [0, 0],
        ],
      ],
    }) ?? '',
    /at least 4/,
  );
  assert.match(
    polygonProblem({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [1, 0],
          [1, 1],
          [0, 2],
        ],
      ],
    }) ?? '',
    /not closed/,
  );
  assert.match(
    polygonProblem({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [200, 0],
          [1, 1],
          [0, 0],
        ],
      ],
    }) ?? '',
    /outside/,
  );
  assert.match(
    polygonProblem({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [1, 1],
          [2, 2],
          [0, 0],
        ],
      ],
    }) ?? '',
    /zero area/,
  );
  assert.equal(polygonProblem(square), null);
  assert.throws(() => new GeoFence('x', { type: 'Polygon', coordinates: [] }), { code: 'ERR_GEO_BAD_POLYGON' });
});

test('geo: lat,lng parsing refuses junk and out-of-range values', () => {
  assert.deepEqual(parseLatLng('39.9,116.4'), { lat: 39.9, lng: 116.4 });
  assert.deepEqual(parseLatLng(' -33.8 , 151.2 '), { lat: -33.8, lng: 151.2 });
  for (const bad of ['', '39.9', '91,0', '0,181', 'a,b', '1,2,3', '1e3,2']) assert.equal(parseLatLng(bad), null, bad);
});

test('geo: client addresses are masked to their prefix', () => {
  assert.deepEqual(parseClientAddr('1.2.3.4/24'), { family: 4, address: '1.2.3.0', prefix: 24, v4: 0x01020300 });
  assert.equal(parseClientAddr('2001:db8:abcd:1234::1/48').address, '2001:db8:abcd::');
  assert.equal(parseClientAddr('1.2.3.4/0').address, '0.0.0.0');
  assert.equal(parseClientAddr('::ffff:1.2.3.4').family, 4);
});
