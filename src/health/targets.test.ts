import assert from 'node:assert/strict';
import { it } from 'node:test';
import { loadTopology, parseTopology } from '../topology/index.ts';
import { statusMatches } from './probes/index.ts';
import { healthTargets, probeSource, zoneAddresses, zoneKeyEndpoint } from './targets.ts';

it('health: the default topology probes every zone role except control, from each zone own address', () => {
  const t = loadTopology();
  const targets = healthTargets(t);
  assert.equal(targets.length, 4 * 5);
  assert.deepEqual(
    targets.filter((x) => x.zone === 'bj-a').map((x) => [x.id, x.host, x.port]),
    [
      ['bj-a/dns', '127.0.3.1', 15353],
      ['bj-a/httpdns', '127.0.3.1', 18053],
      ['bj-a/edge', '127.0.3.1', 18080],
      ['bj-a/router', '127.0.3.1', 18081],
      ['bj-a/app', '127.0.3.1', 18082],
    ],
  );
  const own = zoneAddresses(t);
  assert.deepEqual(Object.fromEntries(own), {
    'sh-a': '127.0.1.1',
    'sh-b': '127.0.2.1',
    'bj-a': '127.0.3.1',
    'gz-a': '127.0.4.1',
  });
  assert.equal(probeSource(own.get('sh-a'), targets[0]!), '127.0.1.1');
  assert.equal(zoneKeyEndpoint(t, 'gz-a'), 'gz-a/router');
});

it('health: zones sharing an address probe from any address, and families never mix', () => {
  const t = parseTopology(`apex: shop.test
regions: { r: {} }
zones:
  a: { region: r, core: true, listen: { app: 127.0.0.1:20001 } }
  b: { region: r, listen: { app: 127.0.0.1:20002 } }
  c: { region: r, listen: { edge: '[::1]:20003' } }
services:
  api.shop.test: { role: app }
policies:
  nearest: { default: [a, b, c] }
`);
  const own = zoneAddresses(t);
  assert.deepEqual(Object.fromEntries(own), { c: '::1' });
  const [a] = healthTargets(t);
  assert.equal(probeSource(own.get('c'), a!), undefined);
  assert.equal(probeSource('10.0.0.1', a!), undefined);
  assert.equal(zoneKeyEndpoint(t, 'c'), 'c/edge');
});

it('health: expected statuses match by class or exactly', () => {
  assert.equal(statusMatches(204, ['2xx']), true);
  assert.equal(statusMatches(404, ['2xx', '3xx', '4xx']), true);
  assert.equal(statusMatches(503, ['2xx', '3xx', '4xx']), false);
  assert.equal(statusMatches(301, ['200', '301']), true);
  assert.equal(statusMatches(302, ['200', '301']), false);
});

it('health: listeners on port 0 are not probed (their real port is unknown) and decide no zone', () => {
  const t = parseTopology(`apex: shop.test
regions: { r: {} }
zones:
  a: { region: r, core: true, listen: { app: 127.0.0.1:0, edge: 127.0.0.1:20001 } }
  b: { region: r, listen: { router: 127.0.0.1:0 } }
services:
  api.shop.test: { role: app }
policies:
  nearest: { default: [a, b] }
`);
  assert.deepEqual(
    healthTargets(t).map((x) => x.id),
    ['a/edge'],
  );
  assert.equal(zoneKeyEndpoint(t, 'a'), 'a/edge');
  assert.equal(zoneKeyEndpoint(t, 'b'), null);
});

it('health: HTTPDNS and edge listeners are probed over TLS when their section has tls', () => {
  const yaml = (extra: string) => `apex: shop.test
regions: { r: {} }
zones:
  a: { region: r, core: true, listen: { httpdns: 127.0.0.1:20001, edge: 127.0.0.1:20002, app: 127.0.0.1:20003 } }
services:
  api.shop.test: { role: app }
policies:
  nearest: { default: [a] }
${extra}`;
  const tlsOf = (extra: string) =>
    Object.fromEntries(healthTargets(parseTopology(yaml(extra))).map((t) => [t.role, t.tls === true]));
  assert.deepEqual(tlsOf(''), { httpdns: false, edge: false, app: false });
  assert.deepEqual(tlsOf('httpdns: { tls: { cert: c.pem, key: k.pem } }\n'), {
    httpdns: true,
    edge: false,
    app: false,
  });
  assert.deepEqual(tlsOf('edge: { tls: { cert: c.pem, key: k.pem } }\n'), { httpdns: false, edge: true, app: false });
});
