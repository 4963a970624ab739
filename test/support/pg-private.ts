/**
 * A private PostgreSQL cluster for tests that crash it (`pg_ctl -m immediate`: no checkpoint,
 * recovery from the WAL on the next start): initdb'd in a temporary folder, run as the
 * postgres user on a free port of its own, stopped and removed after the test.
 * Needs the PostgreSQL server binaries and root; in CI (CI=true) their absence fails the test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './net.ts';

const BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'].find((d) =>
  existsSync(join(d, 'pg_ctl')),
);

function uidOf(user: string): { uid: number; gid: number } | undefined {
  try {
    return {
      uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })),
      gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })),
    };
  } catch {
    return undefined;
  }
}

export interface PrivatePg {
  port: number;
  /** URL of a database on it (`postgres` unless named). */
  url(db?: string): string;
  start(): void;
  /** Stops at once, as a crash would (no checkpoint). */
  crash(): void;
  /** A cleanup of something that uses the cluster: run when the test ends, last added first, before the cluster stops. */
  cleanup(fn: () => unknown): void;
}

/**
 * Starts a private cluster with `settings` (`-c name=value` each), or returns undefined after
 * skipping the test where it cannot run. When the test ends it runs the cleanups, then stops
 * the cluster and removes its folder.
 */
export async function privatePg(t: TestContext, settings: Record<string, string> = {}): Promise<PrivatePg | undefined> {
  const pgUser = uidOf('postgres');
  if (!BIN || !pgUser || process.getuid?.() !== 0) {
    if (process.env.CI === 'true') assert.fail('CI=true: this test needs the PostgreSQL server binaries and root');
    t.skip('needs the PostgreSQL server binaries and root (runs a private cluster as postgres)');
    return undefined;
  }
  const bin = BIN;
  const dir = mkdtempSync(join(tmpdir(), 'mz-pgpriv-'));
  chownSync(dir, pgUser.uid, pgUser.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  const asPostgres = (cmd: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: 'pipe', timeout: 60_000 });
  asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const opts = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1']
    .concat(Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`))
    .join(' ');
  const pgctl = (...args: string[]) =>
    asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', ...args]);
  let running = false;
  const cleanups: (() => unknown)[] = [];
  const pg: PrivatePg = {
    port,
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    start() {
      pgctl('start');
      running = true;
    },
    crash() {
      pgctl('-m', 'immediate', 'stop');
      running = false;
    },
    cleanup: (fn) => void cleanups.push(fn),
  };
  t.after(async () => {
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => {});
    try {
      if (running) pg.crash();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  pg.start();
  return pg;
}
