import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CachedGeoDb } from './cached-geo-db.ts';
import { geoDbContract } from './geo-db.contract.ts';
import { Ip2RegionGeoDb } from './ip2region-geo-db.ts';
import { TableGeoDb } from './table-geo-db.ts';

const real = { beijing: '61.135.169.121', guangdong: '202.96.128.86', us: '8.8.8.8', v6cn: '240e:47d:c20:1627::1' };
geoDbContract('geo/ip2region', () => new Ip2RegionGeoDb(), real);
geoDbContract('geo/cached', () => new CachedGeoDb(new Ip2RegionGeoDb(), 16), real);
geoDbContract(
  'geo/table',
  () =>
    new TableGeoDb([
      { cidr: '10.1.0.0/16', country: 'CN', province: 'CN-BJ', isp: 'unicom' },
      { cidr: '10.2.0.0/16', country: 'CN', province: 'CN-GD', isp: 'telecom' },
      { cidr: '10.3.0.0/16', country: 'US' },
      { cidr: 'fd00::/8', country: 'CN' },
    ]),
  { beijing: '10.1.2.3', guangdong: '10.2.0.9', us: '10.3.4.4', v6cn: 'fd00::1' },
);

test('geo: ip2region gives the network prefix the answer holds for', () => {
  const db = new Ip2RegionGeoDb();
  const l = db.lookup('1.2.4.8');
  assert.equal(l.province, 'CN-BJ');
  assert.ok(l.prefix >= 8 && l.prefix <= 32);
  // every address in that prefix answers the same province
  const block = 2 ** (32 - l.prefix);
  const base =
    (((1 << 24) | (2 << 16) | (4 << 8) | 8) >>> 0) - ((((1 << 24) | (2 << 16) | (4 << 8) | 8) >>> 0) % block);
  for (const off of [0, Math.floor(block / 2), block - 1]) {
    const n = base + off;
    const ip = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    assert.equal(db.lookup(ip).province, 'CN-BJ', ip);
  }
});

test('geo: private and loopback addresses have no location', () => {
  const db = new Ip2RegionGeoDb();
  for (const ip of ['10.0.0.1', '127.0.0.1', '192.168.1.1']) {
    const l = db.lookup(ip);
    assert.equal(l.country, null, ip);
    assert.equal(l.province, null, ip);
  }
});

test('geo: IPv4-mapped IPv6 is looked up as IPv4', () => {
  const db = new Ip2RegionGeoDb();
  const l = db.lookup('::ffff:61.135.169.121');
  assert.equal(l.family, 4);
  assert.equal(l.province, 'CN-BJ');
});

test('geo: carriers and provinces are normalised to stable ids', () => {
  const db = new Ip2RegionGeoDb();
  assert.equal(db.lookup('117.136.0.1').isp, 'mobile');
  assert.equal(db.lookup('36.110.0.1').isp, 'telecom');
  assert.equal(db.lookup('203.198.0.1').country, 'HK');
});
