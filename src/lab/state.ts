import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A process the lab started in a zone's namespace, and how to start it again. */
export interface LabProcess {
  /** `postgres`, `redis`, `nats`, `etcd`, `proxy`, `zone` or `bird` (the upstream router's). */
  kind: 'postgres' | 'redis' | 'nats' | 'etcd' | 'proxy' | 'zone' | 'bird';
  zone: string;
  ns: string;
  /** Leads its own process group (spawned detached): teardown kills the group. */
  pid: number;
  argv: string[];
  log: string;
  cwd?: string;
}

/**
 * Everything `lab up` made, written before each thing is made, so `lab down` removes it all
 * even after a crashed `up`.
 */
export interface LabState {
  version: 1;
  dir: string;
  delayMs: number;
  /** Where the control Kv lives (absent in older state files: nats). */
  kv?: 'nats' | 'etcd';
  /** Failover, health and router timing (absent in older state files: lab). */
  timing?: LabTiming;
  /** The prohibit route added in the root namespace. */
  guard?: string;
  bridge?: string;
  namespaces: string[];
  veths: string[];
  processes: LabProcess[];
  /** Data folders (PostgreSQL, Redis, NATS, stores) removed by `down`; the logs stay. */
  dirs: string[];
  /** The topology file the zone processes read. */
  config?: string;
  /** The anycast parts (router and client namespaces, the router's BIRD) were built: BIRD 2 is installed. */
  anycast?: boolean;
  /** Set once every zone answered with a fully owned shard map. */
  ready: boolean;
}

/** The state file of the lab in `dir`. */
export function statePath(dir: string): string {
  return join(dir, 'lab.json');
}

/** A fresh state for a lab about to be built in `dir`. */
/** `lab`: quick settings scaled to the WAN delay; `defaults`: the topology sets no timing at all. */
export type LabTiming = 'lab' | 'defaults';

export function newState(
  dir: string,
  delayMs: number,
  kv: 'nats' | 'etcd' = 'nats',
  timing: LabTiming = 'lab',
): LabState {
  return { version: 1, dir, delayMs, kv, timing, namespaces: [], veths: [], processes: [], dirs: [], ready: false };
}

/** The lab's state, or undefined when there is no state file. */
export function readState(dir: string): LabState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as LabState;
}

/** Writes the state file atomically (a crash leaves the old or the new one, never half). */
export function writeState(s: LabState): void {
  const p = statePath(s.dir);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

/** The recorded process of that kind in that zone. */
export function findProcess(s: LabState, kind: LabProcess['kind'], zone: string): LabProcess | undefined {
  return s.processes.find((p) => p.kind === kind && p.zone === zone);
}
