import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { connect as natsConnect } from 'nats';
import type { Clock } from '../core/clock.ts';
import { EtcdKv } from '../shardmap/index.ts';
import { labErrors } from './errors.ts';
import { findTool, run } from './netns.ts';
import type { LabLayout, LabZone } from './topology-gen.ts';

/** The user PostgreSQL runs as (it refuses root). */
export const PG_USER = 'postgres';

/** PostgreSQL's bin folder: where `postgres` is on PATH, else the newest /usr/lib/postgresql/N/bin. */
export function pgBinDir(): string | undefined {
  const onPath = findTool('postgres');
  if (onPath && findTool(onPath.replace(/postgres$/, 'initdb'))) return onPath.replace(/\/postgres$/, '');
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'postgres'))) return join(root, v, 'bin');
  return undefined;
}

/** The programs the lab needs that are missing (empty when all are there). */
export function missingTools(kv: 'nats' | 'etcd' = 'nats'): string[] {
  const tools = ['ip', 'setpriv', 'redis-server', 'nats-server', ...(kv === 'etcd' ? ['etcd'] : [])];
  const missing = tools.filter((t) => !findTool(t));
  if (!pgBinDir()) missing.push('postgres/initdb (PostgreSQL server binaries)');
  return missing;
}

/** uid and gid of a user, from /etc/passwd; undefined when there is no such user. */
export function userIds(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** initdb into `dir` as the postgres user (trust auth), and let the lab subnet in. */
export async function initPostgres(l: LabLayout, dir: string): Promise<void> {
  const ids = userIds(PG_USER);
  if (!ids) throw labErrors.ERR_LAB_MISSING_TOOL(`lab: no "${PG_USER}" user to run PostgreSQL as (it refuses root)`);
  // the folders above it stay traversable for postgres (a recursive mkdir would give them 0700 too)
  mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, ids.uid, ids.gid);
  const bin = pgBinDir()!;
  await run('setpriv', [
    `--reuid=${PG_USER}`,
    `--regid=${PG_USER}`,
    '--init-groups',
    '--',
    join(bin, 'initdb'),
    '-D',
    dir,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  appendFileSync(join(dir, 'pg_hba.conf'), `host all all ${l.subnet} trust\n`);
}

/** The postmaster's argv: listening on the namespace's loopback and the zone's address. */
export function postgresArgv(l: LabLayout, z: LabZone, dir: string): string[] {
  return [
    join(pgBinDir()!, 'postgres'),
    '-D',
    dir,
    '-c',
    `listen_addresses=127.0.0.1,${z.ip}`,
    '-c',
    `port=${l.ports.postgres}`,
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    // a lab: the zone processes are what gets killed, never the machine, so skip fsync
    'fsync=off',
    '-c',
    'max_connections=60',
    '-c',
    'shared_buffers=32MB',
  ];
}

/** redis-server's argv: no persistence, on the namespace's loopback and the zone's address. */
export function redisArgv(l: LabLayout, z: LabZone, dir: string): string[] {
  return [
    findTool('redis-server') ?? 'redis-server',
    '--bind',
    '127.0.0.1',
    z.ip,
    '--port',
    String(l.ports.redis),
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--dir',
    dir,
  ];
}

/** nats-server's argv for its config file. */
export function natsArgv(conf: string): string[] {
  return [findTool('nats-server') ?? 'nats-server', '-c', conf];
}

/** Resolves when host:port accepts a TCP connection, polling until `timeoutMs`; false if it never did. */
export async function waitTcp(host: string, port: number, clock: Clock, timeoutMs: number): Promise<boolean> {
  const deadline = clock.now() + timeoutMs;
  while (clock.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect({ host, port });
      s.setTimeout(1000);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await clock.sleep(200);
  }
  return false;
}

/**
 * Tries `attempt` every `pauseMs` until it resolves or `timeoutMs` passes: null once it did,
 * else the last error's message.
 */
async function untilOk(
  clock: Clock,
  timeoutMs: number,
  pauseMs: number,
  attempt: () => Promise<void>,
): Promise<string | null> {
  const deadline = clock.now() + timeoutMs;
  let last = 'no answer';
  while (clock.now() < deadline) {
    try {
      await attempt();
      return null;
    } catch (e) {
      last = (e as Error).message;
    }
    await clock.sleep(pauseMs);
  }
  return last;
}

/**
 * Waits until the NATS cluster answers JetStream requests (a meta leader is elected, so
 * replicated streams and buckets can be created); the last error when it never did.
 */
export function waitJetStream(servers: string[], clock: Clock, timeoutMs: number): Promise<string | null> {
  return untilOk(clock, timeoutMs, 500, async () => {
    const nc = await natsConnect({ servers, timeout: 1000, reconnect: false });
    try {
      await (await nc.jetstreamManager({ timeout: 2000 })).getAccountInfo();
    } finally {
      await nc.close();
    }
  });
}

/**
 * Creates the control Kv's bucket (replicated) and waits until it takes a write: a fresh
 * replicated bucket answers 503 until its stream has a leader, and a zone process that met
 * that at startup would exit. The last error when it never did.
 */
export function prepareKvBucket(
  servers: string[],
  bucket: string,
  replicas: number,
  clock: Clock,
  timeoutMs: number,
): Promise<string | null> {
  return untilOk(clock, timeoutMs, 500, async () => {
    const nc = await natsConnect({ servers, timeout: 1000, reconnect: false });
    try {
      const kv = await nc.jetstream().views.kv(bucket, { history: 1, replicas });
      await kv.put('lab.ready', 'yes');
      await kv.delete('lab.ready');
    } finally {
      await nc.close();
    }
  });
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Waits until the etcd cluster takes a write through every member (a leader is elected and each
 * member reaches it); the last error when it never did.
 */
export function waitEtcd(members: string[], bucket: string, clock: Clock, timeoutMs: number): Promise<string | null> {
  return untilOk(clock, timeoutMs, 250, async () => {
    for (const m of members) {
      const kv = await EtcdKv.open({ url: m, bucket, timeoutMs: 1000 });
      try {
        await kv.put('lab.ready', String(clock.now()));
      } finally {
        await kv.close();
      }
    }
  });
}
