import assert from 'node:assert/strict';
import { test } from 'node:test';
import { geoErrors } from './errors.ts';
import type { GeoDb } from './location.ts';

/**
 * The contract every GeoDb adapter passes. `known` gives addresses the adapter's data
 * must place (Beijing/Unicom, Guangdong/Telecom, US, an IPv6 in China).
 */
export function geoDbContract(
  name: string,
  make: () => GeoDb,
  known: { beijing: string; guangdong: string; us: string; v6cn: string },
): void {
  const db = make();
  test(`${name}: places a Beijing address in CN-BJ`, () => {
    const l = db.lookup(known.beijing);
    assert.equal(l.country, 'CN');
    assert.equal(l.province, 'CN-BJ');
    assert.equal(l.family, 4);
  });
  test(`${name}: places a Guangdong address in CN-GD on telecom`, () => {
    const l = db.lookup(known.guangdong);
    assert.equal(l.province, 'CN-GD');
    assert.equal(l.isp, 'telecom');
  });
  test(`${name}: gives a US address country US and no province`, () => {
    const l = db.lookup(known.us);
    assert.equal(l.country, 'US');
    assert.equal(l.province, null);
  });
  test(`${name}: looks up IPv6`, () => {
    const l = db.lookup(known.v6cn);
    assert.equal(l.family, 6);
    assert.equal(l.country, 'CN');
  });
  test(`${name}: a subnet answers like an address in it, with a prefix no wider than the data`, () => {
    const a = db.lookup(known.beijing);
    const s = db.lookup(`${known.beijing.split('.').slice(0, 3).join('.')}.0/24`);
    assert.equal(s.province, a.province);
    assert.ok(s.prefix >= 0 && s.prefix <= 32);
  });
  test(`${name}: rejects what is not an address with ERR_GEO_BAD_IP`, () => {
    for (const bad of ['', 'x', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4/33', '::g', '01.2.3.4', '1.2.3.4/']) {
      assert.throws(() => db.lookup(bad), { code: geoErrors.ERR_GEO_BAD_IP.code }, bad);
    }
  });
}
