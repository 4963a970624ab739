import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnycastConfig } from '../topology/index.ts';
import { parseBfdSessions, parseProtocols, renderBirdConf } from './bird-conf.ts';

const config = (o: Partial<AnycastConfig> = {}): AnycastConfig => ({
  localAs: 65001,
  prefixes: { dns: { prefix: '10.77.9.53/32', role: 'dns', communities: ['65001:53'] } },
  zones: {
    'sh-a': {
      routerId: '10.77.0.11',
      source: '10.77.0.11',
      port: 179,
      neighbors: [
        { address: '10.77.0.2', as: 65000, port: 179 },
        { address: '10.77.0.3', as: 65000, port: 179 },
      ],
      prepend: 1,
    },
  },
  onDown: 'withdraw',
  downPrepend: 4,
  riseMs: 3_000,
  checkMs: 500,
  withdrawGraceMs: 2_000,
  bgp: { holdTimeS: 9, keepaliveS: 3, connectRetryS: 5 },
  bird: { bin: 'bird', birdc: 'birdc', dir: '/nonexistent' },
  ...o,
});

const plan = [{ name: 'dns', prefix: '10.77.9.53/32', action: 'announce' as const }];

describe('anycast: bird.conf', () => {
  it('anycast: without bfd, no BFD protocol and no bfd in the sessions', () => {
    const text = renderBirdConf(config(), 'sh-a', plan);
    assert.doesNotMatch(text, /bfd/);
    assert.match(text, /protocol bgp mz_up1 \{[^}]*hold time 9;/);
    assert.match(text, /bgp_path\.prepend\(65001\);/);
  });

  it('anycast: with bfd, one BFD protocol with its timers and bfd on in every session', () => {
    const text = renderBirdConf(config({ bfd: { intervalMs: 200, multiplier: 3 } }), 'sh-a', plan);
    assert.equal(text.match(/protocol bfd /g)?.length, 1);
    assert.match(text, /protocol bfd mz_bfd \{\n {2}interface "\*" \{ interval 200 ms; multiplier 3; \};/);
    assert.match(text, /multihop \{ interval 200 ms; multiplier 3; \};/);
    assert.equal(text.match(/^ {2}bfd on;$/gm)?.length, 2, 'both sessions');
    // the BFD protocol comes before the sessions that use it
    assert.ok(text.indexOf('protocol bfd') < text.indexOf('protocol bgp'));
  });

  it('anycast: a withdrawn prefix is absent from the static protocol and the filter', () => {
    const text = renderBirdConf(config(), 'sh-a', [{ ...plan[0]!, action: 'withdraw' }]);
    assert.doesNotMatch(text, /10\.77\.9\.53/);
  });

  it('anycast: parseProtocols reads the BGP rows only', () => {
    const out = parseProtocols(
      [
        'Name       Proto      Table      State  Since         Info',
        'mz_bfd     BFD        ---        up     10:01:02.345',
        'mz_up1     BGP        ---        up     10:01:02.345  Established',
        'mz_up2     BGP        ---        start  10:01:02.345  Active        Socket: Connection refused',
      ].join('\n'),
    );
    assert.deepEqual(
      out.map((s) => [s.name, s.established]),
      [
        ['mz_up1', true],
        ['mz_up2', false],
      ],
    );
  });

  it('anycast: parseBfdSessions maps each neighbour address to its BFD state', () => {
    const out = parseBfdSessions(
      [
        'BIRD 2.0.12 ready.',
        'mz_bfd:',
        'IP address                Interface  State      Since         Interval  Timeout',
        '10.77.0.2                 eth0       Up         10:01:02.345    0.200    0.600',
        '10.77.0.3                 eth0       Down       10:01:02.345    1.000    0.000',
      ].join('\n'),
    );
    assert.deepEqual(
      [...out],
      [
        ['10.77.0.2', 'Up'],
        ['10.77.0.3', 'Down'],
      ],
    );
  });
});
