/*
 * The lab's layout and the files it renders (pure: no I/O). Four zones, each in a network
 * namespace on one bridge; the zone/backups/region layout is the distributed tests' one.
 */

import type { LabTiming } from './state.ts';

/** One zone of the lab: where it lives and what runs in its namespace. */
export interface LabZone {
  name: string;
  region: string;
  core: boolean;
  backups: string[];
  /** Network namespace (`mzlab-sh-a`). */
  ns: string;
  /** The root-namespace end of its veth pair (≤ 15 characters). */
  veth: string;
  /** Its address on the lab bridge. */
  ip: string;
  /** Runs one of the three NATS servers. */
  nats: boolean;
}

/** The lab's network and port plan. */
export interface LabLayout {
  /** The bridge's subnet, on which every zone has an address. */
  subnet: string;
  /** Wider than `subnet`, made `prohibit` in the root namespace first: nothing of the lab leaks out. */
  guard: string;
  bridge: string;
  bridgeIp: string;
  prefixLen: number;
  zones: LabZone[];
  ports: {
    router: number;
    app: number;
    control: number;
    dns: number;
    httpdns: number;
    postgres: number;
    redis: number;
    natsClient: number;
    natsCluster: number;
    /** etcd members (with `--kv etcd`) run beside the NATS servers. */
    etcdClient: number;
    etcdPeer: number;
    /** With `--kv etcd`, etcd member k is reached at 127.0.0.1:(etcdProxyBase + k), delayed. */
    etcdProxyBase: number;
    /** The delay proxy in each zone's namespace listens on 127.0.0.1:(proxyBase + k) for NATS server k. */
    proxyBase: number;
  };
}

const ZONES: readonly Pick<LabZone, 'name' | 'region' | 'core' | 'backups' | 'nats'>[] = [
  { name: 'sh-a', region: 'east', core: true, backups: ['sh-b', 'bj-a', 'gz-a'], nats: true },
  { name: 'sh-b', region: 'east', core: false, backups: ['sh-a', 'gz-a', 'bj-a'], nats: true },
  { name: 'bj-a', region: 'north', core: false, backups: ['sh-a', 'sh-b', 'gz-a'], nats: true },
  { name: 'gz-a', region: 'south', core: false, backups: ['sh-b', 'sh-a', 'bj-a'], nats: false },
];

/** The lab's fixed layout: 10.77.0.0/24 on bridge mzlab0 (.1), zones at .11 upwards. */
export function labLayout(): LabLayout {
  return {
    subnet: '10.77.0.0/24',
    guard: '10.77.0.0/16',
    bridge: 'mzlab0',
    bridgeIp: '10.77.0.1',
    prefixLen: 24,
    zones: ZONES.map((z, i) => ({ ...z, ns: `mzlab-${z.name}`, veth: `mzl-${z.name}`, ip: `10.77.0.${11 + i}` })),
    ports: {
      router: 8080,
      app: 8081,
      control: 7070,
      dns: 53,
      httpdns: 8053,
      postgres: 5432,
      redis: 6379,
      natsClient: 4222,
      natsCluster: 6222,
      etcdClient: 2379,
      etcdPeer: 2380,
      etcdProxyBase: 12379,
      proxyBase: 14222,
    },
  };
}

/**
 * Where the lab keeps the control Kv: a JetStream bucket on the NATS cluster (the default), or an
 * etcd cluster of three members beside the NATS servers (`--kv etcd`: raft with pre-vote and a
 * 500 ms election timeout, where NATS 2.9's Kv takes no writes for seconds around a partition).
 */
export type LabKv = 'nats' | 'etcd';

/** The control Kv's bucket in the lab. */
export const LAB_KV_BUCKET = 'mzlab';
/** JetStream replicas of the lab's streams and bucket (one per NATS server). */
export const LAB_REPLICAS = 3;

/** The zones running a NATS server, in server order (server k is reached through proxy port proxyBase + k). */
export function natsZones(l: LabLayout): LabZone[] {
  return l.zones.filter((z) => z.nats);
}

/** Base URLs of a zone's listeners, as seen from the root namespace (over the bridge). */
export function zoneUrls(
  l: LabLayout,
  z: LabZone,
): { router: string; app: string; control: string; httpdns: string; dns: string } {
  return {
    router: `http://${z.ip}:${l.ports.router}`,
    app: `http://${z.ip}:${l.ports.app}`,
    control: `http://${z.ip}:${l.ports.control}`,
    httpdns: `http://${z.ip}:${l.ports.httpdns}`,
    dns: `${z.ip}:${l.ports.dns}`,
  };
}

/** The name the lab's DNS and HTTPDNS answer with every healthy zone's router (outage checks watch it). */
export const LAB_ALL_ZONES_NAME = 'all.shop.test';

/** Failover timing scaled to the WAN delay: the lease outlasts several delayed Kv round trips. */
export function labTiming(delayMs: number): { leaseMs: number; renewMs: number } {
  const leaseMs = Math.max(2000, 2000 + 40 * delayMs);
  return { leaseMs, renewMs: Math.floor(leaseMs / 5) };
}

/**
 * The topology every zone process reads: PostgreSQL and Redis on each namespace's own
 * loopback (`{zone}` names the connection), the log and the Kv on the 3-server NATS cluster
 * through the zone's delay proxy, streams and bucket at replicas 3; the cluster secret
 * every zone process signs with at `secretFile`.
 */
export function renderLabYaml(
  l: LabLayout,
  o: {
    dataDir: string;
    delayMs: number;
    secretFile: string;
    kv?: LabKv;
    timing?: LabTiming;
    /** With BIRD installed: each zone announces the anycast DNS address, its BIRD's files here. */
    anycastDir?: string;
  },
): string {
  const nats = natsZones(l)
    .map((_, k) => `127.0.0.1:${l.ports.proxyBase + k}`)
    .join(',');
  const etcd = natsZones(l)
    .map((_, k) => `http://127.0.0.1:${l.ports.etcdProxyBase + k}`)
    .join(',');
  const replicas = Math.min(LAB_REPLICAS, natsZones(l).length);
  const { leaseMs, renewMs } = labTiming(o.delayMs);
  const regions = [...new Set(l.zones.map((z) => z.region))];
  return `# written by multizone lab up (one-way WAN delay to NATS: ${o.delayMs} ms)
name: lab
apex: shop.test
regions: { ${regions.map((r) => `${r}: {}`).join(', ')} }
zones:
${l.zones
  .map(
    (z) => `  ${z.name}:
    region: ${z.region}
    core: ${z.core}
    backups: [${z.backups.join(', ')}]
    listen: { router: ${z.ip}:${l.ports.router}, app: ${z.ip}:${l.ports.app}, control: ${z.ip}:${l.ports.control}, dns: ${z.ip}:${l.ports.dns}, httpdns: ${z.ip}:${l.ports.httpdns} }`,
  )
  .join('\n')}
services:
  api.shop.test: { role: router, ttl: 60, policy: nearest }
  # every healthy zone's router, for outage checks: a dead zone's address must leave it
  ${LAB_ALL_ZONES_NAME}: { role: router, ttl: 5, policy: all }
  httpdns.shop.test: { role: httpdns, ttl: 60, policy: nearest }
policies:
  nearest: { default: [[sh-a, sh-b], bj-a, gz-a] }
  all: { default: [[${l.zones.map((z) => z.name).join(', ')}]], answers: ${l.zones.length}, sticky: false, capacity: false }
control: { listen: 127.0.0.1:0 }
shards:
  count: 64
  key:
    - header: x-user-id
  mappings:
    session:
      from: [{ cookie: mz_sid }, { header: x-session-id }]
      pattern: '^(?<zone>[a-z][a-z0-9-]*)\\.'
resources:
  accounts: { class: global, paths: [/api/accounts, /api/register], unique: true }
  profiles: { class: sharded, paths: [/api/profiles], freshness: minutes }
  comments: { class: sharded, paths: [/api/comments], freshness: eventual }
  sessions: { class: local, paths: [/api/sessions], key: session, regenerable: true, lossTolerant: true }
${
  o.timing === 'defaults'
    ? `# timing: multizone's defaults (lab up --timing defaults)
failover:`
    : `# a zone cut off answers nothing: give up on it sooner than the drill's 2 s client timeout
router: { timeouts: { connectMs: 500, headersMs: ${1500 + 4 * o.delayMs} } }
health: { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 }
failover:
  after: 600
  leaseMs: ${leaseMs}
  renewMs: ${renewMs}
  skewMs: 100
  check: { intervalMs: 100, timeoutMs: 300 }`
}
  kv: ${
    o.kv === 'etcd'
      ? `{ type: etcd, url: '${etcd}', bucket: ${LAB_KV_BUCKET} }`
      : `{ type: nats, url: '${nats}', bucket: ${LAB_KV_BUCKET}, replicas: ${replicas} }`
  }
replication:
  log: jetstream
  pollMs: 20
  nats: { url: '${nats}', prefix: MZLAB, replicas: ${replicas} }
store:
  adapter: postgres
  dataDir: ${o.dataDir}
  postgres: { url: 'postgres://postgres@127.0.0.1:${l.ports.postgres}/postgres?application_name=mz-{zone}', poolSize: 4 }
session:
  adapter: redis
  redis: { url: 'redis://127.0.0.1:${l.ports.redis}/0?connectionName=mz-{zone}' }
# every zone process signs its calls to the others with this secret (lab up writes it, mode 0600)
trust:
  secretFile: ${o.secretFile}
${o.anycastDir ? renderAnycastYaml(l, o.anycastDir) : ''}`;
}

/** The NATS server name of zone `zone`'s server (what JetStream reports as a stream's leader). */
export function natsServerName(zone: string): string {
  return `mzlab-${zone}`;
}

/** nats-server.conf of the NATS server in zone `z`: JetStream, a cluster route to every other server. */
export function renderNatsConf(l: LabLayout, z: LabZone, storeDir: string): string {
  const routes = natsZones(l)
    .filter((o) => o.name !== z.name)
    .map((o) => `nats-route://${o.ip}:${l.ports.natsCluster}`);
  return `# written by multizone lab up
server_name: ${natsServerName(z.name)}
listen: 0.0.0.0:${l.ports.natsClient}
jetstream { store_dir: "${storeDir}", max_memory_store: 64MB, max_file_store: 1GB }
cluster {
  name: mzlab
  listen: 0.0.0.0:${l.ports.natsCluster}
  # clients reach the servers only through their zone's delay proxy: do not hand them direct URLs
  no_advertise: true
  routes: [${routes.join(', ')}]
}
`;
}

/**
 * etcd's argv for member `z` (with `--kv etcd`): peers on the bridge, clients through the zones'
 * delay proxies; pre-vote, so a member back from a partition does not unseat the leader;
 * heartbeat 50 ms and election timeout 500 ms, so a cut leader is replaced well within a lease.
 */
export function etcdArgv(l: LabLayout, z: LabZone, dataDir: string, bin = 'etcd'): string[] {
  const peers = natsZones(l)
    .map((m) => `${natsServerName(m.name)}=http://${m.ip}:${l.ports.etcdPeer}`)
    .join(',');
  return [
    bin,
    `--name=${natsServerName(z.name)}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=http://${z.ip}:${l.ports.etcdClient}`,
    `--advertise-client-urls=http://${z.ip}:${l.ports.etcdClient}`,
    `--listen-peer-urls=http://${z.ip}:${l.ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://${z.ip}:${l.ports.etcdPeer}`,
    `--initial-cluster=${peers}`,
    '--initial-cluster-state=new',
    '--initial-cluster-token=mzlab',
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--pre-vote',
    // leases are renewed every few hundred ms: keep the history small
    '--auto-compaction-mode=revision',
    '--auto-compaction-retention=10000',
    '--log-level=warn',
  ];
}

/** Where the lab's anycast parts live. */
export const LAB_ANYCAST = {
  /** The address every zone announces and its DNS answers on. */
  address: '10.77.9.53',
  /** The zones' AS and the router's. */
  zoneAs: 65001,
  routerAs: 65000,
  router: { ns: 'mzlab-rt', veth: 'mzl-rt', ip: '10.77.0.2' },
  /** The client namespace, on its own link to the router. */
  client: { ns: 'mzlab-cl', net: '10.77.1.0/24', routerIp: '10.77.1.1', ip: '10.77.1.2' },
  /**
   * AS-path prepends per zone: the preference the router sees (sh-a nearest, gz-a last), as an
   * operator would prepend in backup zones.
   */
  prepend: { 'sh-a': 0, 'sh-b': 1, 'bj-a': 2, 'gz-a': 3 } as Record<string, number>,
  /** BFD under every zone's session, both ends (`anycast.bfd` and the router's bird.conf). */
  bfd: { intervalMs: 200, multiplier: 3 },
} as const;

/** The router's bird.conf: a session per zone with BFD under it, every route it learns into its kernel table. */
export function renderRouterBirdConf(l: LabLayout): string {
  const sessions = l.zones.map(
    (z) => `protocol bgp zone_${z.name.replace(/-/g, '_')} {
  description "zone ${z.name}";
  local ${LAB_ANYCAST.router.ip} as ${LAB_ANYCAST.routerAs};
  neighbor ${z.ip} as ${LAB_ANYCAST.zoneAs};
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
  graceful restart off;
  bfd on;
  ipv4 { import all; export none; };
}`,
  );
  const { intervalMs, multiplier } = LAB_ANYCAST.bfd;
  return `# written by multizone lab up: the lab's upstream router
router id ${LAB_ANYCAST.router.ip};
protocol device { }
protocol kernel { ipv4 { import none; export all; }; }
protocol bfd { interface "*" { interval ${intervalMs} ms; multiplier ${multiplier}; }; }
${sessions.join('\n')}
`;
}

/** The `anycast:` section of lab.yaml: every zone announces the DNS address to the router. */
export function renderAnycastYaml(l: LabLayout, birdDir: string): string {
  return `anycast:
  localAs: ${LAB_ANYCAST.zoneAs}
  riseMs: 3000
  checkMs: 200
  withdrawGraceMs: 1000
  bgp: { holdTimeS: 3, keepaliveS: 1, connectRetryS: 1 }
  bfd: { intervalMs: ${LAB_ANYCAST.bfd.intervalMs}, multiplier: ${LAB_ANYCAST.bfd.multiplier} }
  bird: { dir: ${birdDir} }
  prefixes:
    dns: { prefix: ${LAB_ANYCAST.address}/32, role: dns, communities: ['${LAB_ANYCAST.zoneAs}:53'] }
  zones:
${l.zones
  .map(
    (z) =>
      `    ${z.name}: { routerId: ${z.ip}, source: ${z.ip}, prepend: ${LAB_ANYCAST.prepend[z.name] ?? 0}, neighbors: [{ address: ${LAB_ANYCAST.router.ip}, as: ${LAB_ANYCAST.routerAs} }] }`,
  )
  .join('\n')}
`;
}
