import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import { ensureSecretFile, SECRET_FILE_NAME } from '../trust/index.ts';
import { anycastAnsweredBy, anycastAvailable, buildAnycastNetwork, routerRoutes } from './anycast-lab.ts';
import {
  initPostgres,
  missingTools,
  natsArgv,
  postgresArgv,
  prepareKvBucket,
  redisArgv,
  tail,
  waitEtcd,
  waitJetStream,
  waitTcp,
} from './engines.ts';
import { labErrors } from './errors.ts';
import {
  addGuardRoute,
  alive,
  createBridge,
  createZoneNs,
  findTool,
  guardExists,
  killGroup,
  linkExists,
  listNamespaces,
  nsPids,
  removeGuardRoute,
  removeLink,
  removeNs,
  spawnInNs,
} from './netns.ts';
import { type LabProcess, type LabState, type LabTiming, newState, readState, statePath, writeState } from './state.ts';
import {
  etcdArgv,
  LAB_ANYCAST,
  LAB_KV_BUCKET,
  LAB_REPLICAS,
  type LabKv,
  type LabLayout,
  type LabZone,
  labLayout,
  natsZones,
  renderLabYaml,
  renderNatsConf,
  zoneUrls,
} from './topology-gen.ts';

/** The lab's folder when none is given. */
export const DEFAULT_LAB_DIR = '/tmp/multizone-lab';

/** The CLI entry that starts zone processes and delay proxies (this package's bin). */
const BIN = fileURLToPath(new URL('../../bin/multizone.js', import.meta.url));

/** Options of `lab up`. */
export interface LabUpOptions {
  dir: string;
  /** One-way delay (ms) of each zone's link to the NATS cluster. */
  delayMs: number;
  /** Where the control Kv lives (default nats). */
  kv?: LabKv;
  /** Failover, health and router timing (default lab). */
  timing?: LabTiming;
  clock: Clock;
  /** Progress lines for people. */
  log?(s: string): void;
  /** How long every part may take to come up (ms; default 120 s). */
  readyTimeoutMs?: number;
}

/** A lab that is up: its state and each zone's URLs. */
export interface LabInfo {
  state: LabState;
  zones: { zone: string; ns: string; ip: string; router: string; app: string; control: string }[];
}

/** Refuses to build a lab without root, Linux or the programs it runs. */
export function preflight(kv: LabKv = 'nats'): void {
  if (process.platform !== 'linux' || process.getuid?.() !== 0)
    throw labErrors.ERR_LAB_NOT_ROOT(
      `lab: needs root on Linux (network namespaces, a bridge, a route); running as uid ${process.getuid?.() ?? '?'} on ${process.platform}`,
    );
  const missing = missingTools(kv);
  if (missing.length) throw labErrors.ERR_LAB_MISSING_TOOL(`lab: missing ${missing.join(', ')}`);
}

/** Each zone's URLs, as seen from the root namespace. */
export function labInfo(state: LabState): LabInfo {
  const l = labLayout();
  return {
    state,
    zones: l.zones.map((z) => ({ zone: z.name, ns: z.ns, ip: z.ip, ...zoneUrls(l, z) })),
  };
}

/** The argv of a zone's process (`multizone zone Z --config lab.yaml --app accounts`). */
export function zoneArgv(z: LabZone, config: string): string[] {
  return [process.execPath, BIN, 'zone', z.name, '--config', config, '--app', 'accounts'];
}

/** Starts a recorded process again in its namespace (same argv, log appended); records the new pid. */
export function respawn(state: LabState, p: LabProcess): number {
  p.pid = spawnInNs(p.ns, p.argv, p.log, {
    ...(p.kind === 'postgres' ? { user: 'postgres' } : {}),
    ...(p.cwd ? { cwd: p.cwd } : {}),
  });
  writeState(state);
  return p.pid;
}

/**
 * Builds the lab: the prohibit route, the bridge, a namespace per zone with its PostgreSQL and
 * Redis, three NATS servers, a delay proxy and the zone process per zone; resolves once every
 * zone's control API answers with a fully owned shard map. On failure everything is removed
 * again (the logs stay) and the error names what did not come up.
 */
export async function labUp(o: LabUpOptions): Promise<LabInfo> {
  preflight(o.kv);
  const dir = resolve(o.dir);
  const l = labLayout();
  const log = o.log ?? (() => {});
  const timeout = o.readyTimeoutMs ?? 120_000;
  if (readState(dir))
    throw labErrors.ERR_LAB_IN_USE(`lab: ${statePath(dir)} exists: run multizone lab down --dir ${dir}`);
  const leftovers = [
    ...((await linkExists(l.bridge)) ? [`bridge ${l.bridge}`] : []),
    ...(await listNamespaces('mzlab-')).map((n) => `namespace ${n}`),
    ...((await guardExists(l.guard)) ? [`route prohibit ${l.guard}`] : []),
  ];
  if (leftovers.length) {
    // a lab whose processes are all gone (its `up` or its host's session killed) left only
    // kernel objects behind: nothing to protect, so take them away instead of refusing
    const running: string[] = [];
    for (const ns of await listNamespaces('mzlab-')) {
      const pids = (await nsPids(ns)).filter(alive);
      if (pids.length) running.push(`${ns} (pids ${pids.slice(0, 3).join(' ')}${pids.length > 3 ? ' …' : ''})`);
    }
    if (running.length)
      throw labErrors.ERR_LAB_IN_USE(
        `lab: ${leftovers.join(', ')} already exist and processes run in ${running.join(', ')}: run multizone lab down (--dir of that lab)`,
      );
    log(`lab: removing a stale lab's leftovers (no process runs in them): ${leftovers.join(', ')}`);
    await removeLeftovers(l, o.clock);
  }
  // each up starts its logs afresh (down keeps them for a look afterwards)
  rmSync(join(dir, 'logs'), { recursive: true, force: true });
  mkdirSync(join(dir, 'logs'), { recursive: true, mode: 0o755 });
  // PostgreSQL runs as its own user under this folder: it must be able to pass through it
  chmodSync(dir, statSync(dir).mode | 0o011);
  const state = newState(dir, o.delayMs, o.kv ?? 'nats', o.timing ?? 'lab');
  writeState(state);
  try {
    await buildNetwork(state, l, log);
    await startEngines(state, l, o.clock, timeout, log);
    await startZones(state, l, o.clock, timeout, log);
    if (state.anycast) await waitAnycast(state, l.zones.length, o.clock, timeout, log);
    state.ready = true;
    writeState(state);
    return labInfo(state);
  } catch (e) {
    log(`lab: up failed, removing what was built (logs stay in ${join(dir, 'logs')})`);
    await labDown({ dir, clock: o.clock }).catch(() => {});
    throw e;
  }
}

async function buildNetwork(state: LabState, l: LabLayout, log: (s: string) => void): Promise<void> {
  // recorded before made: a crash in between leaves nothing down does not know of
  state.guard = l.guard;
  writeState(state);
  await addGuardRoute(l.guard);
  state.bridge = l.bridge;
  writeState(state);
  await createBridge(l);
  for (const z of l.zones) {
    state.namespaces.push(z.ns);
    state.veths.push(z.veth);
    writeState(state);
    await createZoneNs(l, z);
  }
  if (anycastAvailable()) await buildAnycastNetwork(state, l, log);
  else log('anycast: skipped (BIRD 2 is not installed: apt-get install bird2)');
  log(`network: bridge ${l.bridge} ${l.bridgeIp}/${l.prefixLen}, prohibit ${l.guard}, ${l.zones.length} namespaces`);
}

function record(state: LabState, p: Omit<LabProcess, 'pid'>, user?: string): LabProcess {
  const full: LabProcess = { ...p, pid: 0 };
  state.processes.push(full);
  full.pid = spawnInNs(p.ns, p.argv, p.log, { ...(user ? { user } : {}), ...(p.cwd ? { cwd: p.cwd } : {}) });
  writeState(state);
  return full;
}

/** Fails with ERR_LAB_NOT_READY naming `what`, with the tail of its log. */
function notReady(what: string, logFile: string, why: string): Error {
  return labErrors.ERR_LAB_NOT_READY(`lab: ${what} did not come up (${why}); ${logFile}:\n${tail(logFile)}`);
}

async function startEngines(
  state: LabState,
  l: LabLayout,
  clock: Clock,
  timeout: number,
  log: (s: string) => void,
): Promise<void> {
  const dir = state.dir;
  const logOf = (name: string) => join(dir, 'logs', `${name}.log`);
  const dataDir = (z: LabZone, what: string) => join(dir, 'zones', z.name, what);
  state.dirs.push(join(dir, 'zones'), join(dir, 'data'));
  writeState(state);
  await Promise.all(l.zones.map((z) => initPostgres(l, dataDir(z, 'pg'))));
  for (const z of l.zones) {
    const pg = dataDir(z, 'pg');
    record(
      state,
      {
        kind: 'postgres',
        zone: z.name,
        ns: z.ns,
        argv: postgresArgv(l, z, pg),
        log: logOf(`postgres-${z.name}`),
        cwd: pg,
      },
      'postgres',
    );
    const rd = dataDir(z, 'redis');
    mkdirSync(rd, { recursive: true });
    record(state, { kind: 'redis', zone: z.name, ns: z.ns, argv: redisArgv(l, z, rd), log: logOf(`redis-${z.name}`) });
  }
  for (const z of natsZones(l)) {
    const js = dataDir(z, 'nats');
    mkdirSync(js, { recursive: true });
    const conf = join(dir, 'zones', z.name, 'nats-server.conf');
    writeFileSync(conf, renderNatsConf(l, z, js));
    record(state, { kind: 'nats', zone: z.name, ns: z.ns, argv: natsArgv(conf), log: logOf(`nats-${z.name}`) });
  }
  for (const z of l.zones) {
    if (!(await waitTcp(z.ip, l.ports.postgres, clock, timeout)))
      throw notReady(`PostgreSQL of ${z.name}`, logOf(`postgres-${z.name}`), `${z.ip}:${l.ports.postgres} refused`);
    if (!(await waitTcp(z.ip, l.ports.redis, clock, timeout)))
      throw notReady(`Redis of ${z.name}`, logOf(`redis-${z.name}`), `${z.ip}:${l.ports.redis} refused`);
  }
  const servers = natsZones(l).map((z) => `${z.ip}:${l.ports.natsClient}`);
  const why = await waitJetStream(servers, clock, timeout);
  if (why !== null) throw notReady('the NATS JetStream cluster', logOf(`nats-${natsZones(l)[0]!.name}`), why);
  if (state.kv === 'etcd') {
    for (const z of natsZones(l)) {
      const data = dataDir(z, 'etcd');
      mkdirSync(data, { recursive: true });
      record(state, {
        kind: 'etcd',
        zone: z.name,
        ns: z.ns,
        argv: etcdArgv(l, z, data, findTool('etcd') ?? 'etcd'),
        log: logOf(`etcd-${z.name}`),
      });
    }
    const members = natsZones(l).map((z) => `http://${z.ip}:${l.ports.etcdClient}`);
    const etcdWhy = await waitEtcd(members, LAB_KV_BUCKET, clock, timeout);
    if (etcdWhy !== null) throw notReady('the etcd cluster', logOf(`etcd-${natsZones(l)[0]!.name}`), etcdWhy);
    log(`engines: etcd cluster (the control Kv) on ${members.join(', ')}`);
  } else {
    const kvWhy = await prepareKvBucket(servers, LAB_KV_BUCKET, LAB_REPLICAS, clock, timeout);
    if (kvWhy !== null) throw notReady(`the Kv bucket ${LAB_KV_BUCKET}`, logOf(`nats-${natsZones(l)[0]!.name}`), kvWhy);
  }
  log(`engines: PostgreSQL and Redis in every zone, NATS JetStream cluster on ${servers.join(', ')}`);
}

async function startZones(
  state: LabState,
  l: LabLayout,
  clock: Clock,
  timeout: number,
  log: (s: string) => void,
): Promise<void> {
  const dir = state.dir;
  const logOf = (name: string) => join(dir, 'logs', `${name}.log`);
  const config = join(dir, 'lab.yaml');
  // one secret for the lab's zone processes (root-owned, 0600: they run as root)
  const secretFile = ensureSecretFile(join(dir, SECRET_FILE_NAME)).path;
  if (state.anycast) {
    state.dirs.push(join(dir, 'anycast'));
    writeState(state);
  }
  writeFileSync(
    config,
    renderLabYaml(l, {
      dataDir: join(dir, 'data'),
      delayMs: state.delayMs,
      secretFile,
      kv: state.kv ?? 'nats',
      timing: state.timing ?? 'lab',
      ...(state.anycast ? { anycastDir: join(dir, 'anycast') } : {}),
    }),
  );
  state.config = config;
  // each zone reaches NATS server k at 127.0.0.1:(proxyBase + k) in its namespace, delayed (and
  // etcd member k at etcdProxyBase + k)
  const maps = natsZones(l).map((n, k) => `127.0.0.1:${l.ports.proxyBase + k}=${n.ip}:${l.ports.natsClient}`);
  if (state.kv === 'etcd')
    maps.push(...natsZones(l).map((n, k) => `127.0.0.1:${l.ports.etcdProxyBase + k}=${n.ip}:${l.ports.etcdClient}`));
  for (const z of l.zones)
    record(state, {
      kind: 'proxy',
      zone: z.name,
      ns: z.ns,
      argv: [process.execPath, BIN, 'lab', 'proxy', '--delay-ms', String(state.delayMs), ...maps],
      log: logOf(`proxy-${z.name}`),
    });
  for (const z of l.zones) {
    const file = logOf(`proxy-${z.name}`);
    if (!(await waitFor(clock, timeout, async () => readLog(file).includes('delay proxy ready'))))
      throw notReady(`the delay proxy of ${z.name}`, file, 'no ready line');
  }
  const procs = l.zones.map((z) =>
    record(state, { kind: 'zone', zone: z.name, ns: z.ns, argv: zoneArgv(z, config), log: logOf(`zone-${z.name}`) }),
  );
  for (const [i, z] of l.zones.entries()) {
    const file = logOf(`zone-${z.name}`);
    const url = zoneUrls(l, z).control;
    let exited = false;
    const up = await waitFor(clock, timeout, () => {
      // a process that exited (a config error, a refused connection) will not answer: stop waiting
      if (!alive(procs[i]!.pid)) exited = true;
      return exited
        ? Promise.resolve(true)
        : shardMapReady(
            url,
            l.zones.map((x) => x.name),
          );
    });
    if (exited) throw notReady(`zone ${z.name}`, file, 'its process exited');
    if (!up) throw notReady(`zone ${z.name}`, file, `${url}/api/shardmap never showed every shard owned`);
  }
  log(`zones: ${l.zones.map((z) => z.name).join(', ')} up (multizone zone Z --config ${config} --app accounts)`);
}

/** The client is answered at the anycast address (the zones' BIRDs announce, the router routes). */
async function waitAnycast(
  state: LabState,
  zones: number,
  clock: Clock,
  timeout: number,
  log: (s: string) => void,
): Promise<void> {
  let by: string | null = null;
  // every zone's route at the router (each waits its rise), then who answers
  const ok = await waitFor(clock, timeout, async () => {
    if ((await routerRoutes(state)).hops.length < zones) return false;
    by = await anycastAnsweredBy();
    return by !== null;
  });
  if (!ok)
    throw notReady(
      `the anycast address ${LAB_ANYCAST.address}`,
      join(state.dir, 'logs', 'bird-router.log'),
      `no answer to dig @${LAB_ANYCAST.address} id.server from ${LAB_ANYCAST.client.ns}`,
    );
  const routes = await routerRoutes(state);
  log(
    `anycast: ${LAB_ANYCAST.address} answered by ${by} (router ${LAB_ANYCAST.router.ns} holds ${routes.hops.length} routes, best via ${routes.best})`,
  );
}

function readLog(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Polls `cond` every 250 ms until it holds (true) or `timeoutMs` passes (false). */
export async function waitFor(clock: Clock, timeoutMs: number, cond: () => Promise<boolean>): Promise<boolean> {
  const deadline = clock.now() + timeoutMs;
  while (clock.now() < deadline) {
    if (await cond().catch(() => false)) return true;
    await clock.sleep(250);
  }
  return false;
}

/** The part of GET /api/shardmap the lab reads. */
export interface LabShardMap {
  count: number;
  shards: { shard: number; zone: string; epoch: number }[];
  leader?: { holder?: string; zones?: string[]; control?: string };
}

/** GET /api/shardmap of a control API (2 s timeouts). */
export async function getShardMap(control: string): Promise<LabShardMap> {
  const r = await request(`${control}/api/shardmap`, { headersTimeout: 2000, bodyTimeout: 2000 });
  if (r.statusCode !== 200) {
    await r.body.dump();
    throw labErrors.ERR_LAB_NOT_READY(`lab: ${control}/api/shardmap answered ${r.statusCode}`);
  }
  return (await r.body.json()) as LabShardMap;
}

/** The zone answers, its map has every shard owned by a lab zone, and a leader holds the control plane. */
export async function shardMapReady(control: string, zones: string[]): Promise<boolean> {
  const m = await getShardMap(control);
  return m.shards.length === m.count && m.shards.every((s) => zones.includes(s.zone)) && Boolean(m.leader?.holder);
}

/** Options of `lab down`. */
export interface LabDownOptions {
  dir: string;
  clock: Clock;
  log?(s: string): void;
}

/**
 * Removes a lab's kernel objects: whatever runs in its namespaces, the namespaces and veths,
 * the bridge and the prohibit route (those the state names, and the lab's names without one).
 */
async function removeLeftovers(l: ReturnType<typeof labLayout>, clock: Clock, state?: LabState): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = new Set([...(state?.namespaces ?? []), ...(await listNamespaces('mzlab-'))]);
  for (const ns of namespaces) {
    await removeNs(ns, clock);
    removed.push(`namespace ${ns}`);
  }
  for (const dev of [...(state?.veths ?? []), ...l.zones.map((z) => z.veth), LAB_ANYCAST.router.veth])
    await removeLink(dev);
  const bridge = state?.bridge ?? l.bridge;
  if (await linkExists(bridge)) {
    await removeLink(bridge);
    removed.push(`bridge ${bridge}`);
  }
  const guard = state?.guard ?? l.guard;
  if (await guardExists(guard)) {
    await removeGuardRoute(guard);
    removed.push(`route prohibit ${guard}`);
  }
  return removed;
}

/**
 * Removes the lab in `dir`, idempotently: its processes (by process group, then whatever
 * still runs in its namespaces), the namespaces and veths, the bridge, the prohibit route and
 * the data folders; the logs stay. Works from the state file, and also finds lab namespaces,
 * bridge and route without one (after a crash before the state was written).
 */
export async function labDown(o: LabDownOptions): Promise<string[]> {
  const dir = resolve(o.dir);
  const l = labLayout();
  const state = readState(dir);
  const removed: string[] = [];
  for (const p of state?.processes ?? [])
    if (p.pid > 0) {
      await killGroup(p.pid, o.clock);
      removed.push(`${p.kind} ${p.zone} (pid ${p.pid})`);
    }
  removed.push(...(await removeLeftovers(l, o.clock, state)));
  for (const d of state?.dirs ?? []) rmSync(d, { recursive: true, force: true });
  for (const f of [
    state?.config,
    statePath(dir),
    `${statePath(dir)}.tmp`,
    join(dir, SECRET_FILE_NAME),
    ...['conf', 'ctl', 'pid'].map((x) => join(dir, `router-bird.${x}`)),
  ])
    if (f) rmSync(f, { force: true });
  o.log?.(
    `lab down: removed ${removed.length ? removed.join(', ') : 'nothing (no lab was up)'}; logs in ${join(dir, 'logs')}`,
  );
  return removed;
}
