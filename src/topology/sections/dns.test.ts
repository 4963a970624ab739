import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dnsSection } from './dns.ts';

test('topology/dns: defaults need no dns: section', () => {
  const c = dnsSection.parse(undefined);
  assert.equal(c.maxUdpPayload, 1232);
  assert.equal(c.rrl.enabled, true);
  assert.equal(c.soa.minimum, 60);
  assert.equal(c.ns, undefined);
});

test('topology/dns: bad config is rejected at the right path', () => {
  const cases: [unknown, string][] = [
    [{ maxUdpPayload: 100 }, 'maxUdpPayload'],
    [{ maxUdpPayload: 70000 }, 'maxUdpPayload'],
    [{ tcpIdleTimeoutMs: 0 }, 'tcpIdleTimeoutMs'],
    [{ rrl: { responsesPerSecond: 0 } }, 'rrl.responsesPerSecond'],
    [{ rrl: { slip: -1 } }, 'rrl.slip'],
    [{ rrl: { burst: 1.5 } }, 'rrl.burst'],
    [{ rrl: { enable: true } }, 'rrl'],
    [{ soa: { serial: -1 } }, 'soa.serial'],
    [{ soa: { mname: 'not a name' } }, 'soa.mname'],
    [{ ns: { 'bad name!': 'sh-a' } }, 'ns.bad name!'],
    [{ cacheSize: -1 }, 'cacheSize'],
    [{ typo: 1 }, ''],
  ];
  for (const [input, path] of cases) {
    const r = dnsSection.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    if (!r.success) assert.equal(r.error.issues[0]!.path.join('.'), path, JSON.stringify(input));
  }
});
