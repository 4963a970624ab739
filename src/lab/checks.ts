/*
 * Lab checks beyond one zone's drill: two zones killed at once (how long until every surviving
 * zone's DNS and HTTPDNS stop answering with them), and a restart of every zone process (the
 * shard map must come back as it was).
 */
import { Resolver } from 'node:dns/promises';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import { HEARTBEAT_INTERVALS, voteStaleMs } from '../health/index.ts';
import { loadTopology } from '../topology/index.ts';
import { failBackAndWait } from './drill.ts';
import { labErrors } from './errors.ts';
import { getShardMap, type LabShardMap, respawn, shardMapReady, waitFor } from './lab.ts';
import { alive, killGroup, stopGroup } from './netns.ts';
import { findProcess, type LabState, readState } from './state.ts';
import { LAB_ALL_ZONES_NAME, type LabLayout, labLayout, zoneUrls } from './topology-gen.ts';

/** How often the outage check asks DNS and HTTPDNS (ms). */
const POLL_MS = 100;
/** Answers must have left the dead zones out for this long before the check ends (ms). */
const STABLE_MS = 3000;
/** How long zones may take to come back after an outage or a restart (ms). */
const BACK_TIMEOUT_MS = 90_000;

/** What `lab outage` measured. */
export interface LabOutageReport {
  /** The zones whose processes were killed together. */
  zones: string[];
  /** The zones whose DNS and HTTPDNS were asked. */
  observers: string[];
  /**
   * The health bound: a dead prober's votes age out (vote stale time + one republish period),
   * and the live probers see the zone fail (fall × interval + timeout).
   */
  boundMs: number;
  /** From the kill until no surviving zone's DNS answered with a killed zone again (null: never). */
  dnsMs: number | null;
  /** The same for HTTPDNS (`/d`). */
  httpdnsMs: number | null;
  /** Questions asked, and those that got no answer (a timeout, an error status). */
  asked: number;
  failed: number;
  /** Addresses answered before the kill, and at the end. */
  before: string[];
  after: { dns: string[]; httpdns: string[] };
  /** From the restart of the killed processes until DNS answered with them again. */
  backMs: number | null;
}

/** Options of `lab outage`. */
export interface LabOutageOptions {
  dir: string;
  zones: string[];
  clock: Clock;
  log?(s: string): void;
}

function labOf(dir: string): { state: LabState; l: LabLayout } {
  const state = readState(dir);
  if (!state?.ready || !state.config)
    throw labErrors.ERR_LAB_NOT_UP(`lab: no lab is up in ${dir} (multizone lab up --dir ${dir})`);
  return { state, l: labLayout() };
}

/** The health bound of the lab's topology (see LabOutageReport.boundMs). */
export function healthBoundMs(h: { intervalMs: number; timeoutMs: number; fall: number }): number {
  return voteStaleMs(h.intervalMs) + HEARTBEAT_INTERVALS * h.intervalMs + h.fall * h.intervalMs + h.timeoutMs;
}

async function askDns(server: string): Promise<string[]> {
  const r = new Resolver({ timeout: 500, tries: 1 });
  r.setServers([server]);
  return (await r.resolve4(LAB_ALL_ZONES_NAME)).sort();
}

async function askHttpDns(base: string): Promise<string[]> {
  const r = await request(`${base}/d?host=${LAB_ALL_ZONES_NAME}`, { headersTimeout: 1000, bodyTimeout: 1000 });
  if (r.statusCode !== 200) {
    await r.body.dump();
    throw new Error(`HTTP ${r.statusCode}`);
  }
  const body = (await r.body.json()) as { dns?: { ips?: string[] }[] };
  return [...(body.dns?.[0]?.ips ?? [])].sort();
}

/**
 * Kills the processes of `zones` at once, then asks every other zone's DNS and HTTPDNS every
 * 100 ms which routers serve `all.shop.test` until neither answers with a killed zone for 3 s
 * (or twice the health bound passes); then starts them again, waits until DNS answers with
 * them, and fails their shards back home.
 */
export async function runLabOutage(o: LabOutageOptions): Promise<LabOutageReport> {
  const { state, l } = labOf(o.dir);
  const unknown = o.zones.filter((z) => !l.zones.some((x) => x.name === z));
  if (unknown.length || o.zones.length === 0 || new Set(o.zones).size !== o.zones.length)
    throw labErrors.ERR_LAB_NOT_UP(
      `lab: --zones needs distinct lab zones (got ${o.zones.join(',') || 'none'}; zones: ${l.zones.map((z) => z.name).join(', ')})`,
    );
  const victims = l.zones.filter((z) => o.zones.includes(z.name));
  const observers = l.zones.filter((z) => !o.zones.includes(z.name));
  if (observers.length === 0) throw labErrors.ERR_LAB_NOT_UP('lab: --zones leaves no zone to ask');
  const health = loadTopology(state.config!).config.health;
  const boundMs = healthBoundMs(health);
  const dead = new Set(victims.map((z) => z.ip));
  const control = zoneUrls(l, observers[0]!).control;
  const map = await getShardMap(control);
  // what a failback brings back: each victim's shards of the topology that it holds now
  const homeOf = loadTopology(state.config!).initialOwners();
  const home = new Map(
    victims.map((z) => [
      z.name,
      map.shards.filter((s) => s.zone === z.name && homeOf[s.shard] === z.name).map((s) => s.shard),
    ]),
  );
  const before = await askDns(zoneUrls(l, observers[0]!).dns);
  for (const v of victims)
    if (!before.includes(v.ip))
      throw labErrors.ERR_LAB_NOT_READY(`lab: ${v.name} (${v.ip}) is not answered before the outage: ${before}`);

  const procs = victims.map((z) => findProcess(state, 'zone', z.name)!);
  o.log?.(`outage: killing ${o.zones.join(' and ')} (health bound ${boundMs} ms)`);
  await Promise.all(procs.map((p) => killGroup(p.pid, o.clock)));
  const t0 = o.clock.now();
  let asked = 0;
  let failed = 0;
  // per kind: since when every answer (from every observer) has left the killed zones out
  const cleanSince: { dns: number | null; httpdns: number | null } = { dns: null, httpdns: null };
  const latest = { dns: [] as string[], httpdns: [] as string[] };
  const stable = (now: number) =>
    cleanSince.dns !== null &&
    cleanSince.httpdns !== null &&
    now - Math.max(cleanSince.dns, cleanSince.httpdns) >= STABLE_MS;
  const deadline = t0 + 2 * boundMs + 10_000;
  while (o.clock.now() < deadline && !stable(o.clock.now())) {
    for (const z of observers) {
      const u = zoneUrls(l, z);
      for (const [kind, ask] of [
        ['dns', () => askDns(u.dns)],
        ['httpdns', () => askHttpDns(u.httpdns)],
      ] as const) {
        asked++;
        const ips = await ask().catch(() => undefined);
        if (!ips) {
          failed++;
          continue;
        }
        latest[kind] = ips;
        if (ips.some((ip) => dead.has(ip))) cleanSince[kind] = null;
        else cleanSince[kind] ??= o.clock.now();
      }
    }
    await o.clock.sleep(POLL_MS);
  }
  const end = o.clock.now();
  const settled = (at: number | null) => (at !== null && end - at >= STABLE_MS ? Math.round(at - t0) : null);
  const report: LabOutageReport = {
    zones: o.zones,
    observers: observers.map((z) => z.name),
    boundMs,
    dnsMs: settled(cleanSince.dns),
    httpdnsMs: settled(cleanSince.httpdns),
    asked,
    failed,
    before,
    after: latest,
    backMs: null,
  };

  o.log?.(`outage: starting ${o.zones.join(' and ')} again`);
  const t1 = o.clock.now();
  for (const p of procs) respawn(state, p);
  const back = await waitFor(o.clock, BACK_TIMEOUT_MS, async () => {
    const ips = await askDns(zoneUrls(l, observers[0]!).dns);
    return victims.every((v) => ips.includes(v.ip));
  });
  if (back) report.backMs = Math.round(o.clock.now() - t1);
  for (const v of victims) {
    const shards = home.get(v.name)!;
    if (shards.length) await failBackAndWait(control, v.name, shards, o.clock);
  }
  return report;
}

/** What `lab restart` found. */
export interface LabRestartReport {
  /** Shard → owner and epoch before the restart, and the global writer. */
  before: string;
  after: string;
  /** Shards whose owner or epoch changed, and whether the global writer moved. */
  changed: number[];
  globalMoved: boolean;
  /** From the first stop until every zone answered with a fully owned map and a leader. */
  upMs: number;
  /** How long the map was watched afterwards (failover.after + health bound + 2 leases). */
  watchedMs: number;
}

function owners(m: LabShardMap & { global?: { zone: string } | null }): string {
  return `${m.shards.map((s) => `${s.shard}:${s.zone}@${s.epoch}`).join(' ')} global:${m.global?.zone ?? '-'}`;
}

/**
 * Stops every zone process cleanly (SIGTERM, as a rolling upgrade or a host reboot does),
 * starts them all again, waits until every zone answers, watches the map for longer than any
 * failover could take, and compares it with the map before.
 */
export async function runLabRestart(o: {
  dir: string;
  clock: Clock;
  log?(s: string): void;
}): Promise<LabRestartReport> {
  const { state, l } = labOf(o.dir);
  const cfg = loadTopology(state.config!).config;
  const zones = l.zones.map((z) => z.name);
  const control = zoneUrls(l, l.zones[0]!).control;
  const before = (await getShardMap(control)) as LabShardMap & { global?: { zone: string } | null };
  const procs = l.zones.map((z) => findProcess(state, 'zone', z.name)!);
  o.log?.(`restart: stopping ${zones.join(', ')} (SIGTERM)`);
  const t0 = o.clock.now();
  await Promise.all(procs.map((p) => stopGroup(p.pid, o.clock, 20_000)));
  const stuck = procs.filter((p) => alive(p.pid));
  if (stuck.length) throw labErrors.ERR_LAB_NOT_READY(`lab: ${stuck.map((p) => p.zone).join(', ')} did not stop`);
  for (const p of procs) respawn(state, p);
  for (const z of l.zones) {
    const url = zoneUrls(l, z).control;
    if (!(await waitFor(o.clock, BACK_TIMEOUT_MS, () => shardMapReady(url, zones))))
      throw labErrors.ERR_LAB_NOT_READY(`lab: zone ${z.name} did not come back at ${url}`);
  }
  const upMs = Math.round(o.clock.now() - t0);
  const f = cfg.failover;
  const watchedMs = f.after + healthBoundMs(cfg.health) + 2 * f.leaseMs;
  o.log?.(`restart: every zone is up after ${upMs} ms; watching the map for ${watchedMs} ms`);
  await o.clock.sleep(watchedMs);
  const after = (await getShardMap(control)) as typeof before;
  const changed = after.shards
    .filter((s) => {
      const b = before.shards.find((x) => x.shard === s.shard);
      return !b || b.zone !== s.zone || b.epoch !== s.epoch;
    })
    .map((s) => s.shard);
  return {
    before: owners(before),
    after: owners(after),
    changed,
    globalMoved: (before.global?.zone ?? null) !== (after.global?.zone ?? null),
    upMs,
    watchedMs,
  };
}
