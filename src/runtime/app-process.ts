/**
 * An external app that multizone runs itself (`zones.<z>.app.command`): the zone's process
 * starts it before anything of the zone (a router must never forward to an app that is not
 * there yet), waits until it answers its health path, restarts it when it exits — with a
 * growing pause, as systemd's `Restart=on-failure` does, so a crash loop does not spin — and
 * stops it last (SIGTERM, then SIGKILL after a grace period). Its output goes to a log file
 * of its own; a start that fails quotes the end of it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { request } from 'undici';
import type { Clock, Timer } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { RestartBackoff, stopChild } from '../core/supervise.ts';
import type { AppRun, ExternalApp } from '../topology/index.ts';
import { APP_PLACEHOLDERS, zoneUrl } from '../topology/index.ts';
import { createPrivate } from '../trust/index.ts';
import { runtimeErrors } from './errors.ts';

/** `{name}` of the placeholders topology validation allows (`{zone}`/`{zone_}` are zoneUrl's). */
const PLACEHOLDER = new RegExp(`\\{(${APP_PLACEHOLDERS.join('|')})\\}`, 'g');

/** How long a stopping app may take after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;
/** How much of the log a failed start quotes. */
const LOG_TAIL_BYTES = 2_000;

/** What the placeholders of `command` and `env` stand for in one zone. */
export interface AppPlaceholders {
  zone: string;
  host: string;
  port: number;
  keyFile: string;
  router: string;
  edge: string;
  edgeToken: string;
  node: string;
}

/** `{name}` → its value; `{zone_}` is the zone's name with `_` for `-`. */
export function fillPlaceholders(template: string, p: AppPlaceholders): string {
  return zoneUrl(template, p.zone).replace(PLACEHOLDER, (all, k: string) =>
    Object.hasOwn(p, k) ? String(p[k as keyof AppPlaceholders]) : all,
  );
}

/** The command line and environment of one zone's app, placeholders filled. */
export function appCommand(run: AppRun, p: AppPlaceholders): { argv: string[]; env: Record<string, string> } {
  return {
    argv: run.command.map((a) => fillPlaceholders(a, p)),
    env: Object.fromEntries(Object.entries(run.env).map(([k, v]) => [k, fillPlaceholders(v, p)])),
  };
}

/**
 * Makes the app's key file (32 random bytes, hex, mode 0600) when it does not exist: the app
 * is multizone's to start, so the key it shares with its router is too. True when made.
 */
export function ensureAppKey(file: string): boolean {
  return createPrivate(file, `${randomBytes(32).toString('hex')}\n`);
}

export interface AppProcessOptions {
  zone: string;
  app: ExternalApp & { run: AppRun };
  placeholders: AppPlaceholders;
  /** Where the app's output goes (appended). */
  logFile: string;
  clock: Clock;
  logger: Logger;
  /** Where in the topology the app is configured, for messages (`zones.sh-a.app.command`). */
  at: string;
}

/** One zone's app process, supervised. */
export class AppProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: Timer | undefined;
  private readonly backoff = new RestartBackoff();
  private startedAt = 0;
  /** Set once start() saw the app answer: exits before that fail the start instead of restarting. */
  private running = false;
  /** How many times the app was started again after it exited. */
  restarts = 0;

  constructor(private readonly o: AppProcessOptions) {}

  /** Starts the app and resolves once it answers its health path; rejects (and stops it) when it cannot. */
  async start(): Promise<void> {
    const { app, clock } = this.o;
    const exited = this.spawn();
    const deadline = clock.now() + app.run.startTimeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const gone = exited.done;
      if (gone) {
        this.stopping = true;
        throw runtimeErrors.ERR_RUNTIME_APP_START(
          `${this.o.at}: the app exited (${gone}) before it answered ${app.url}${app.health}; the end of its log ${this.o.logFile}:\n${this.logTail()}`,
        );
      }
      last = await this.healthOnce();
      if (last === 'ok') break;
      if (clock.now() >= deadline) {
        await this.stop();
        throw runtimeErrors.ERR_RUNTIME_APP_START(
          `${this.o.at}: the app did not answer ${app.url}${app.health} within ${app.run.startTimeoutMs} ms (app.startTimeoutMs; last: ${last}); the end of its log ${this.o.logFile}:\n${this.logTail()}`,
        );
      }
      await clock.sleep(100);
    }
    this.running = true;
    this.o.logger.info(
      { zone: this.o.zone, app: app.url, pid: this.child?.pid },
      `${this.o.zone}: started the app (${app.name ?? app.run.command[0]}), it answers ${app.health}`,
    );
  }

  /** SIGTERM, then SIGKILL after STOP_GRACE_MS; resolves when the process is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.restartTimer?.cancel();
    if (this.child) await stopChild(this.child, this.o.clock, STOP_GRACE_MS);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the app; the returned object says how it exited once it has. */
  private spawn(): { done: string | undefined } {
    const { argv, env } = appCommand(this.o.app.run, this.o.placeholders);
    mkdirSync(dirname(this.o.logFile), { recursive: true });
    const fd = openSync(this.o.logFile, 'a');
    const state: { done: string | undefined } = { done: undefined };
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.o.app.run.cwd,
        env: { ...process.env, ...env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    this.child = child;
    this.startedAt = this.o.clock.now();
    child.on('error', (e) => {
      // spawn failures (ENOENT: no such command) arrive here, not as a throw
      state.done = `${(e as NodeJS.ErrnoException).code ?? 'error'}: ${argv[0]} in ${this.o.app.run.cwd}`;
    });
    child.on('exit', (code, signal) => {
      state.done ??= signal ? `signal ${signal}` : `code ${code}`;
      if (this.stopping || !this.running || this.child !== child) return;
      this.scheduleRestart(state.done);
    });
    return state;
  }

  private scheduleRestart(how: string): void {
    const ranMs = this.o.clock.now() - this.startedAt;
    const pause = this.backoff.next(ranMs);
    this.o.logger.warn(
      { zone: this.o.zone, app: this.o.app.url, exit: how, restartInMs: pause },
      `${this.o.zone}: the app exited (${how}) after ${Math.round(ranMs / 1000)} s; starting it again in ${pause} ms (its log: ${this.o.logFile})`,
    );
    this.restartTimer = this.o.clock.setTimer(pause, () => {
      if (this.stopping) return;
      this.restarts++;
      this.spawn();
    });
  }

  private async healthOnce(): Promise<string> {
    const { app } = this.o;
    try {
      const res = await request(`${app.url}${app.health}`, { headersTimeout: 1000, bodyTimeout: 1000 });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : `status ${res.statusCode}`;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    }
  }

  private logTail(): string {
    try {
      const text = readFileSync(this.o.logFile, 'utf8');
      return text.slice(-LOG_TAIL_BYTES).trimEnd() || '(empty)';
    } catch {
      return '(no log)';
    }
  }
}
