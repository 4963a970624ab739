import assert from 'node:assert/strict';
import { test } from 'node:test';
import { YamlSource } from '../../core/config.ts';
import { checkTopology } from '../model.ts';

const ZONES = `name: t
apex: shop.test
regions: { east: {} }
zones:
  sh-a: { region: east, core: true, listen: { dns: 127.0.1.1:0, router: 127.0.1.1:0 } }
  sh-b: { region: east, listen: { router: 127.0.2.1:0 } }
services: { api.shop.test: { role: router } }
policies: { nearest: { default: [sh-a, sh-b] } }
`;

const GOOD = `anycast:
  localAs: 65001
  prefixes:
    dns: { prefix: 10.77.9.53/32, role: dns, zones: [sh-a] }
  zones:
    sh-a: { routerId: 10.77.0.11, neighbors: [{ address: 10.77.0.2, as: 65000 }] }
`;

function problems(anycast: string): string[] {
  const { problems } = checkTopology(new YamlSource('t.yaml', ZONES + anycast));
  return problems.filter((p) => p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
}

test('topology/anycast: a good section validates, with its defaults', () => {
  assert.deepEqual(problems(GOOD), []);
  const { topology } = checkTopology(new YamlSource('t.yaml', ZONES + GOOD));
  const a = topology!.config.anycast!;
  assert.equal(a.riseMs, 10_000);
  assert.equal(a.onDown, 'withdraw');
  assert.deepEqual(a.bgp, { holdTimeS: 9, keepaliveS: 3, connectRetryS: 5 });
  assert.equal(a.zones['sh-a']!.neighbors[0]!.port, 179);
  assert.equal(a.bfd, undefined, 'BFD is off unless asked for');
});

test('topology/anycast: bfd: {} takes the default timers', () => {
  const { topology } = checkTopology(new YamlSource('t.yaml', `${ZONES}${GOOD}  bfd: {}\n`));
  assert.deepEqual(topology!.config.anycast!.bfd, { intervalMs: 200, multiplier: 3 });
});

test('topology/anycast: bad configs are reported with their path', () => {
  const cases: [string, string, string][] = [
    ['host bits set', GOOD.replace('10.77.9.53/32', '10.77.9.53/24'), 'anycast.prefixes.dns.prefix'],
    ['not a prefix', GOOD.replace('10.77.9.53/32', '10.77.9.530'), 'anycast.prefixes.dns.prefix'],
    ['a zone without a speaker', GOOD.replace('zones: [sh-a]', 'zones: [sh-a, sh-b]'), 'anycast.prefixes.dns.zones.1'],
    [
      'an unknown zone',
      `${GOOD}    gz-x: { routerId: 10.77.0.19, neighbors: [{ address: 10.77.0.2, as: 65000 }] }\n`,
      'anycast.zones.gz-x',
    ],
    [
      'a role the zone does not listen for',
      GOOD.replace('role: dns, zones: [sh-a]', 'role: edge, zones: [sh-a]'),
      'anycast.prefixes.dns.role',
    ],
    ['keepalive over a third of hold', `${GOOD}  bgp: { holdTimeS: 6, keepaliveS: 3 }\n`, 'anycast.bgp.keepaliveS'],
    [
      'a community out of range',
      GOOD.replace('zones: [sh-a] }', 'zones: [sh-a], communities: ["65001:70000"] }'),
      'anycast.prefixes.dns.communities.0',
    ],
    [
      'no neighbours',
      GOOD.replace('neighbors: [{ address: 10.77.0.2, as: 65000 }]', 'neighbors: []'),
      'anycast.zones.sh-a.neighbors',
    ],
    ['a BFD interval under 10 ms', `${GOOD}  bfd: { intervalMs: 5 }\n`, 'anycast.bfd.intervalMs'],
    ['a BFD multiplier of 1', `${GOOD}  bfd: { multiplier: 1 }\n`, 'anycast.bfd.multiplier'],
    ['an unknown BFD key', `${GOOD}  bfd: { interval: 200 }\n`, 'anycast.bfd.interval'],
    ['an unknown key', GOOD.replace('localAs: 65001', 'localAs: 65001\n  risems: 5'), 'anycast.risems'],
  ];
  for (const [what, yaml, path] of cases) {
    const got = problems(yaml);
    assert.ok(
      got.some((p) => p.startsWith(`${path}:`)),
      `${what}: expected a problem at ${path}, got ${JSON.stringify(got)}`,
    );
  }
});
