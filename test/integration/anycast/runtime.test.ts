// The anycast stage in a running cluster: each zone announcing a prefix runs an announcer
// (here with a recording speaker in place of BIRD, which bird-driver.test.ts and
// anycast-netns.test.ts run for real), its DNS also listens on the anycast address, the control
// API, /metrics and the dashboard show it, an operator's drain withdraws, and close() withdraws
// while the DNS listeners still answer and stops the speakers only after they closed.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import dnsPacket from 'dns-packet';
import { request } from 'undici';
import type { Announcement, BgpSession, Speaker } from '../../../src/anycast/index.ts';
import { DASHBOARD_SCRIPT } from '../../../src/control/index.ts';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { testTopologyYaml } from '../../support/net.ts';
import { until } from '../../support/until.ts';

/** Asks a DNS listener `id.server` (CHAOS TXT); resolves with the zone it names, or null without an answer in 500 ms. */
function idServer(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, 500);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      const a = dnsPacket.decode(m).answers?.[0] as { data?: Buffer[] } | undefined;
      resolve(a?.data?.map((d) => d.toString()).join('') ?? null);
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(null);
    });
    s.send(
      dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'id.server', type: 'TXT', class: 'CH' }] }),
      port,
      host,
    );
  });
}

/** Stands in for BIRD: records every plan and, when a shutdown withdraws, whether the zone's DNS still answered. */
class WitnessSpeaker implements Speaker {
  plans: Announcement[][] = [];
  events: string[] = [];
  constructor(
    readonly zone: string,
    private readonly dns: () => { host: string; port: number } | undefined,
  ) {}
  async start() {
    this.events.push('start');
  }
  async apply(plan: readonly Announcement[]) {
    this.plans.push([...plan]);
    const d = this.dns();
    const serving = d ? (await idServer(d.host, d.port)) === this.zone : false;
    this.events.push(`apply ${plan.map((a) => a.action).join(',')} (dns ${serving ? 'serving' : 'closed'})`);
  }
  async sessions(): Promise<BgpSession[]> {
    return [{ name: 'mz_up1', state: 'up', info: 'Established', established: true }];
  }
  async stop() {
    const d = this.dns();
    const serving = d ? (await idServer(d.host, d.port)) === this.zone : false;
    this.events.push(`stop (dns ${serving ? 'serving' : 'closed'})`);
  }
  carried(): string[] {
    return (this.plans.at(-1) ?? []).filter((a) => a.action !== 'withdraw').map((a) => a.name);
  }
}

const clusters: RunningCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

describe('anycast: the runtime stage', () => {
  it('anycast: zones announce after rise, show it in the API, metrics and dashboard, drain, and withdraw before closing', async () => {
    const yaml = testTopologyYaml({
      roles: ['app', 'dns'],
      loopbackPerZone: true,
      extra: `health: { intervalMs: 200, timeoutMs: 150, rise: 1, fall: 1 }
anycast:
  localAs: 65001
  riseMs: 300
  checkMs: 50
  withdrawGraceMs: 200
  prefixes:
    dns: { prefix: 127.0.9.53/32, role: dns, zones: [sh-a, sh-b] }
  zones:
    sh-a: { routerId: 127.0.1.1, neighbors: [{ address: 127.0.0.2, as: 65000 }] }
    sh-b: { routerId: 127.0.2.1, prepend: 1, neighbors: [{ address: 127.0.0.2, as: 65000 }] }
`,
    });
    const topology = parseTopology(yaml, 'anycast-runtime.yaml');
    const speakers = new Map<string, WitnessSpeaker>();
    let c: RunningCluster | undefined;
    const dnsOf = (zone: string) => {
      const l = c?.listeners.find((x) => x.zone === zone && x.role === 'dns' && x.host === '127.0.9.53');
      return l ? { host: l.host, port: l.port } : undefined;
    };
    c = await startCluster({
      topology,
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
      anycastSpeaker: (zone) => {
        const s = new WitnessSpeaker(zone, () => dnsOf(zone));
        speakers.set(zone, s);
        return s;
      },
    });
    clusters.push(c);
    const base = `http://127.0.0.1:${c.control.port}`;
    const api = async () =>
      (await (await request(`${base}/api/anycast`)).body.json()) as {
        enabled: boolean;
        zones: { zone: string; prefixes: { action: string; reason: string }[]; sessions: { neighbor?: string }[] }[];
      };

    assert.deepEqual([...c.anycast.keys()], ['sh-a', 'sh-b'], 'only the zones that announce run an announcer');
    // each announcing zone's DNS answers on the anycast address too, naming its zone
    assert.equal(await idServer('127.0.9.53', dnsOf('sh-a')!.port), 'sh-a');
    assert.equal(await idServer('127.0.9.53', dnsOf('sh-b')!.port), 'sh-b');

    await until('both zones announce', async () =>
      (await api()).zones.every((z) => z.prefixes[0]?.action === 'announce'),
    );
    const a = await api();
    assert.equal(a.enabled, true);
    assert.equal(a.zones[0]!.sessions[0]!.neighbor, '127.0.0.2 AS65000');
    assert.deepEqual(speakers.get('sh-a')!.carried(), ['dns']);

    const metrics = await (await request(`${base}/metrics`)).body.text();
    assert.match(metrics, /mz_anycast_announced\{zone="sh-a",prefix="dns"\} 1/);
    assert.match(metrics, /mz_anycast_bgp_session_up\{zone="sh-b",session="mz_up1"\} 1/);

    const html = runInNewContext(`${DASHBOARD_SCRIPT}; anycastSection(data)`, { data: a }) as string;
    assert.match(html, /<h2>Anycast<\/h2>/);
    assert.match(html, /127\.0\.9\.53/);
    assert.match(html, /announced/);

    const drained = await request(`${base}/api/anycast/drain`, {
      method: 'POST',
      body: JSON.stringify({ zone: 'sh-b' }),
    });
    assert.equal(drained.statusCode, 200);
    await drained.body.dump();
    assert.deepEqual(
      (await api()).zones.map((z) => `${z.zone}:${z.prefixes[0]!.action}/${z.prefixes[0]!.reason}`),
      ['sh-a:announce/healthy', 'sh-b:withdraw/draining'],
    );
    const unknown = await request(`${base}/api/anycast/drain`, {
      method: 'POST',
      body: JSON.stringify({ zone: 'gz-a' }),
    });
    assert.equal(((await unknown.body.json()) as { error: string }).error, 'ERR_ANYCAST_NOT_CONFIGURED');

    // shutdown: withdraw while the DNS still answers, stop the speaker once it is closed
    clusters.splice(clusters.indexOf(c), 1);
    await c.close();
    const events = speakers.get('sh-a')!.events;
    assert.deepEqual(events.slice(-2), ['apply withdraw (dns serving)', 'stop (dns closed)']);
  });
});

describe('anycast: every role serves its anycast address', () => {
  it('anycast: the router, HTTPDNS and edge answer on their anycast addresses as on their own, and stop with them', async () => {
    const yaml = testTopologyYaml({
      roles: ['app', 'router', 'httpdns', 'edge'],
      loopbackPerZone: true,
      extra: `anycast:
  localAs: 65001
  prefixes:
    api: { prefix: 127.0.9.80/32, role: router, zones: [sh-a] }
    hdns: { prefix: 127.0.9.81/32, role: httpdns, zones: [sh-a] }
    cdn: { prefix: 127.0.9.82/32, role: edge, zones: [sh-a] }
  zones:
    sh-a: { routerId: 127.0.1.1, neighbors: [{ address: 127.0.0.2, as: 65000 }] }
`,
    });
    const c = await startCluster({
      topology: parseTopology(yaml, 'anycast-roles.yaml'),
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
      anycastSpeaker: (zone) => new WitnessSpeaker(zone, () => undefined),
    });
    clusters.push(c);
    const own = (role: string) =>
      c.listeners.find((l) => l.zone === 'sh-a' && l.role === role && l.host === '127.0.1.1')!;
    const get = async (host: string, port: number, path: string) => {
      const r = await request(`http://${host}:${port}${path}`);
      const body = await r.body.text();
      return { status: r.statusCode, zone: r.headers['x-multizone-zone'] ?? null, body: body.slice(0, 80) };
    };
    for (const [role, addr, path] of [
      ['router', '127.0.9.80', '/api/hello?user=42'],
      ['httpdns', '127.0.9.81', '/d?host=api.shop.test'],
      ['edge', '127.0.9.82', '/'],
    ] as const) {
      const l = own(role);
      assert.ok(
        c.listeners.some((x) => x.zone === 'sh-a' && x.role === role && x.host === addr && x.port === l.port),
        `${role}: the anycast listener is listed`,
      );
      const a = await get(l.host, l.port, path);
      const b = await get(addr, l.port, path);
      assert.ok(a.status < 500 && a.status !== 421, `${role} on its own address: ${JSON.stringify(a)}`);
      assert.equal(b.status, a.status, `${role} on ${addr}: ${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
      assert.equal(b.zone, a.zone);
    }
    // the other zones do not announce them, so they do not listen there
    assert.ok(!c.listeners.some((x) => x.zone !== 'sh-a' && x.host.startsWith('127.0.9.')));
    const routerPort = own('router').port;
    clusters.splice(clusters.indexOf(c), 1);
    await c.close();
    await assert.rejects(request(`http://127.0.9.80:${routerPort}/`), /ECONNREFUSED/);
  });
});
