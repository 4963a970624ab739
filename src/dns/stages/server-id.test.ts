import assert from 'node:assert/strict';
import { test } from 'node:test';
import dnsPacket from 'dns-packet';
import { type Decoded, decode, dnsTopology } from '../../../test/integration/dns/helpers.ts';
import { ManualClock } from '../../core/clock.ts';
import { TableGeoDb } from '../../geo/index.ts';
import { createSteering } from '../../steering/index.ts';
import { createDnsHandler } from '../handler.ts';

const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const steering = createSteering({ topology, geo: new TableGeoDb([]) });

function ask(serverId: string | undefined, name: string, klass: 'CH' | 'IN', type = 'TXT') {
  const h = createDnsHandler({ topology, steering, clock: new ManualClock(), ...(serverId ? { serverId } : {}) });
  const q = dnsPacket.encode({
    type: 'query',
    id: 7,
    flags: 0,
    questions: [{ name, type: type as 'TXT', class: klass }],
  });
  const reply = h.handle(q, 'udp', '198.51.100.7', 5353);
  assert.ok(reply);
  return decode(reply);
}

const txt = (p: Decoded) =>
  (p.answers ?? []).map((a) => ((a as { data: Buffer[] }).data ?? []).map((d) => d.toString()).join(''));

test('dns/server-id: id.server and hostname.bind (CHAOS TXT) answer the zone', () => {
  for (const name of ['id.server', 'HOSTNAME.BIND']) {
    const p = ask('sh-a', name, 'CH');
    assert.equal(p.rcode, 'NOERROR');
    assert.deepEqual(txt(p), ['sh-a']);
    assert.equal((p.answers?.[0] as { class?: string } | undefined)?.class, 'CH');
  }
});

test('dns/server-id: other CHAOS names, class IN and servers of no zone are left to zone-match (REFUSED)', () => {
  assert.equal(ask('sh-a', 'version.bind', 'CH').rcode, 'REFUSED');
  assert.equal(ask('sh-a', 'id.server', 'IN').rcode, 'REFUSED');
  assert.equal(ask('sh-a', 'id.server', 'CH', 'A').rcode, 'REFUSED');
  assert.equal(ask(undefined, 'id.server', 'CH').rcode, 'REFUSED');
});
