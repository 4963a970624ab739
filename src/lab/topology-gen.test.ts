import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTopology } from '../topology/index.ts';
import { failoverSection } from '../topology/sections/failover.ts';
import { healthSection } from '../topology/sections/health.ts';
import { routerSection } from '../topology/sections/router.ts';
import {
  etcdArgv,
  labLayout,
  labTiming,
  natsZones,
  renderLabYaml,
  renderNatsConf,
  renderRouterBirdConf,
} from './topology-gen.ts';

describe('lab: the generated topology', () => {
  const l = labLayout();

  it('lab: the lab yaml is a valid topology: four zones, postgres and redis per zone, JetStream and NATS Kv at replicas 3', () => {
    const t = parseTopology(
      renderLabYaml(l, { dataDir: '/tmp/lab/data', delayMs: 5, secretFile: '/tmp/lab/cluster-secret' }),
      'lab.yaml',
    );
    assert.equal(t.config.trust.secretFile, '/tmp/lab/cluster-secret');
    assert.deepEqual(
      t.zones.map((z) => z.name),
      ['sh-a', 'sh-b', 'bj-a', 'gz-a'],
    );
    assert.equal(t.coreZone, 'sh-a');
    const c = t.config;
    assert.equal(c.store.adapter, 'postgres');
    assert.match(c.store.postgres.url, /\{zone\}/);
    assert.equal(c.session.adapter, 'redis');
    assert.match(c.session.redis.url, /\{zone\}/);
    assert.equal(c.replication.log, 'jetstream');
    assert.equal(c.replication.nats.replicas, 3);
    assert.equal(c.failover.kv.type, 'nats');
    assert.equal(c.failover.kv.type === 'nats' && c.failover.kv.replicas, 3);
    // every zone reaches the three servers through its own proxy ports on its loopback
    assert.deepEqual(c.replication.nats.url.split(','), ['127.0.0.1:14222', '127.0.0.1:14223', '127.0.0.1:14224']);
    for (const z of t.zones) assert.ok(z.name in c.zones);
    assert.equal(c.zones['gz-a']!.listen.control, '10.77.0.14:7070');
    assert.deepEqual(c.zones['gz-a']!.backups, ['sh-b', 'sh-a', 'bj-a']);
  });

  it('lab: with BIRD installed every zone announces the anycast DNS address to the router, backups prepended', () => {
    const t = parseTopology(
      renderLabYaml(l, {
        dataDir: '/tmp/lab/data',
        delayMs: 5,
        secretFile: '/tmp/lab/s',
        anycastDir: '/tmp/lab/anycast',
      }),
      'lab.yaml',
    );
    const a = t.config.anycast!;
    assert.deepEqual(a.prefixes.dns, { prefix: '10.77.9.53/32', role: 'dns', communities: ['65001:53'] });
    assert.deepEqual(
      Object.entries(a.zones).map(([z, c]) => [z, c.routerId, c.prepend, c.neighbors[0]!.address]),
      [
        ['sh-a', '10.77.0.11', 0, '10.77.0.2'],
        ['sh-b', '10.77.0.12', 1, '10.77.0.2'],
        ['bj-a', '10.77.0.13', 2, '10.77.0.2'],
        ['gz-a', '10.77.0.14', 3, '10.77.0.2'],
      ],
    );
    assert.equal(a.bird.dir, '/tmp/lab/anycast');
    // BFD at both ends of every session: the zones' config and the router's bird.conf
    assert.deepEqual(a.bfd, { intervalMs: 200, multiplier: 3 });
    const rt = renderRouterBirdConf(l);
    assert.match(rt, /protocol bfd \{ interface "\*" \{ interval 200 ms; multiplier 3; \}; \}/);
    assert.equal(rt.match(/ bfd on;/g)?.length, l.zones.length);
    for (const z of l.zones) assert.match(rt, new RegExp(`neighbor ${z.ip.replace(/\./g, '\\.')} as 65001;`));
  });

  it('lab: with --kv etcd the control Kv is a three-member etcd cluster reached through the delay proxies, the log stays on JetStream', () => {
    const t = parseTopology(
      renderLabYaml(l, { dataDir: '/tmp/lab/data', delayMs: 5, secretFile: '/tmp/lab/cluster-secret', kv: 'etcd' }),
      'lab.yaml',
    );
    const kv = t.config.failover.kv;
    assert.equal(kv.type, 'etcd');
    assert.deepEqual(
      kv.type === 'etcd' && kv.url.split(','),
      ['127.0.0.1:12379', '127.0.0.1:12380', '127.0.0.1:12381'].map((a) => `http://${a}`),
    );
    assert.equal(t.config.replication.log, 'jetstream');
    const argv = etcdArgv(l, natsZones(l)[1]!, '/tmp/lab/etcd');
    assert.ok(argv.includes('--pre-vote'));
    assert.ok(argv.includes('--name=mzlab-sh-b'));
    assert.ok(argv.includes('--listen-client-urls=http://10.77.0.12:2379'));
    const cluster = argv.find((a) => a.startsWith('--initial-cluster='))!;
    assert.equal(cluster.split(',').length, 3);
  });

  it("lab: with --timing defaults the topology sets no timing: failover, health and router run on multizone's defaults", () => {
    const render = (timing: 'lab' | 'defaults') =>
      parseTopology(
        renderLabYaml(l, { dataDir: '/tmp/lab/data', delayMs: 5, secretFile: '/tmp/lab/s', kv: 'etcd', timing }),
        'lab.yaml',
      ).config;
    // the sections as a topology that sets nothing has them
    const bare = {
      failover: failoverSection.parse(undefined),
      health: healthSection.parse(undefined),
      router: routerSection.parse(undefined),
    };
    const d = render('defaults');
    const { kv: _kvd, ...failover } = d.failover;
    const { kv: _kvb, ...bareFailover } = bare.failover;
    assert.deepEqual(failover, bareFailover);
    assert.deepEqual(d.health, bare.health);
    assert.deepEqual(d.router.timeouts, bare.router.timeouts);
    assert.equal(d.failover.kv.type, 'etcd', 'the Kv is still the lab one');
    const q = render('lab');
    assert.notDeepEqual(q.failover.check, bare.failover.check, 'the lab timing is its own');
    assert.equal(q.failover.leaseMs, labTiming(5).leaseMs);
  });

  it('lab: addresses sit in the subnet, device names fit in 15 characters, three NATS servers', () => {
    for (const z of l.zones) {
      assert.ok(z.ip.startsWith('10.77.0.'), z.ip);
      assert.ok(z.veth.length <= 15 && z.ns.length <= 15, z.veth);
    }
    assert.equal(natsZones(l).length, 3);
    assert.ok(l.guard.endsWith('/16') && l.subnet.endsWith('/24'));
  });

  it('lab: the lease grows with the delay and stays renewable', () => {
    for (const d of [0, 2, 50, 500]) {
      const { leaseMs, renewMs } = labTiming(d);
      assert.ok(leaseMs >= 2000 && renewMs * 2 <= leaseMs, `${d}: ${leaseMs}/${renewMs}`);
      assert.ok(leaseMs >= 20 * d);
    }
  });

  it('lab: a NATS server routes to the two others and advertises no client URLs', () => {
    const [a] = natsZones(l);
    const conf = renderNatsConf(l, a!, '/tmp/lab/js');
    assert.match(conf, /server_name: mzlab-sh-a/);
    assert.match(conf, /no_advertise: true/);
    assert.match(conf, /routes: \[nats-route:\/\/10\.77\.0\.12:6222, nats-route:\/\/10\.77\.0\.13:6222\]/);
    assert.match(conf, /store_dir: "\/tmp\/lab\/js"/);
  });
});
