/**
 * Worker processes of one listener of a zone (`edge.workers`, `dns.workers`): the zone's
 * process binds the sockets, forks `count - 1` workers of a capability's worker module
 * (worker-child.ts runs it) and, once each has built its server, sends it the listening
 * sockets over IPC (TCP servers and UDP sockets alike): every process then takes
 * connections and datagrams from the same sockets, and the kernel spreads them, as with
 * nginx's workers. Workers that exit are forked again after supervise.ts's pauses (0.5 s doubling to
 * 30 s, as the app's); one that does not answer within 5 s is killed and replaced; their request
 * counts go to `onRequests` and their metrics are summed into the registry's /metrics.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server as NetServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Clock, Timer } from './clock.ts';
import { coreErrors } from './errors.ts';
import type { Logger } from './logger.ts';
import { addRemoteMetrics, type Registry, type RemoteMetrics } from './metrics.ts';
import { RestartBackoff, stopChild } from './supervise.ts';

/** How long a worker may take to answer before it is replaced. */
const ANSWER_MS = 5_000;
const START_MS = 20_000;
/** How long a stopping worker may take before it is killed. */
const STOP_GRACE_MS = 5_000;

/** A `workers` setting as a number of processes: `auto` is one per CPU. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(1, availableParallelism()) : setting;
}

/** Zone process → worker. */
export type ToWorker =
  | { type: 'start'; index: number; payload: unknown }
  | { type: 'listen'; i: number }
  | { type: 'ask'; id: number; body: unknown }
  | { type: 'tell'; body: unknown }
  | { type: 'answer'; id: number; value: unknown }
  | { type: 'metrics'; id: number }
  | { type: 'stop' };

/** Worker → zone process. */
export type FromWorker =
  | { type: 'built' }
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'ask'; id: number; body: unknown }
  | { type: 'answer'; id: number; value: unknown; error?: string }
  | { type: 'metrics'; id: number; metrics: unknown[] }
  | { type: 'requests'; n: number };

export type ListeningHandle = NetServer | UdpSocket;

export interface WorkerPoolOptions {
  /** For messages: "sh-b edge". */
  what: string;
  /** The capability's worker module (its .ts or .js sibling is run, as this module is). */
  entry: URL;
  /** Processes in all, the zone's own included (≥ 2). */
  count: number;
  /** What worker `index` (1 … count-1) builds its server from (structured-clone data). */
  payload(index: number): unknown;
  /** The listening sockets, in the order the workers attach them. */
  handles(): ListeningHandle[];
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  /** Requests a worker answered since its last report (the zone's load meter). */
  onRequests?(n: number): void;
  /** A worker asks the zone's process (e.g. to relay a purge); the answer goes back to it. */
  onAsk?(from: number, body: unknown): Promise<unknown>;
  /** A worker is serving (e.g. send it the current state). */
  onReady?(index: number): void;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  ready: boolean;
  /** When the current process was forked (its run length sets the next pause). */
  startedAt: number;
  backoff: RestartBackoff;
  restart: Timer | undefined;
  removeMetrics: () => void;
}

/** The worker entry point, run through the TypeScript hooks when multizone runs from source. */
function entryOf(url: URL): { path: string; execArgv: string[] } {
  const ts = fileURLToPath(import.meta.url).endsWith('.ts');
  const path = fileURLToPath(url).replace(/\.(ts|js)$/, ts ? '.ts' : '.js');
  const hooks = fileURLToPath(new URL('../../bin/ts.mjs', import.meta.url));
  return { path, execArgv: ts ? ['--import', hooks] : [] };
}

/** A zone listener's worker processes. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { slot: Slot; resolve: (v: unknown) => void; timer: Timer }>();
  private nextId = 1;
  private closing = false;

  constructor(private readonly o: WorkerPoolOptions) {}

  /** Starts every worker; resolves when each serves the sockets, or rejects naming the one that did not. */
  async start(): Promise<void> {
    for (let i = 1; i < this.o.count; i++) {
      const slot: Slot = {
        index: i,
        child: undefined,
        ready: false,
        startedAt: 0,
        backoff: new RestartBackoff(),
        restart: undefined,
        removeMetrics: () => {},
      };
      slot.removeMetrics = addRemoteMetrics(this.o.metrics, this.metricsOf(slot));
      this.slots.push(slot);
    }
    try {
      await Promise.all(this.slots.map((s) => this.spawn(s)));
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Pids of the workers serving now. */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.ready && s.child?.pid ? [s.child.pid] : []));
  }

  /** Sends every serving worker (but `except`) a message it needs not answer. */
  tell(body: unknown, except?: number): void {
    for (const s of this.slots) if (s.ready && s.index !== except) this.post(s, { type: 'tell', body });
  }

  /** Sends one serving worker a message that it answers (undefined: it exited or did not answer in time). */
  askOne(index: number, body: unknown): Promise<unknown> {
    const s = this.slots.find((x) => x.index === index);
    return s?.ready ? this.ask(s, (id) => ({ type: 'ask', id, body })) : Promise.resolve(undefined);
  }

  /** Asks every serving worker (but `except`); resolves with their answers once all answered or gave up. */
  askAll(body: unknown, except?: number): Promise<unknown[]> {
    return Promise.all(
      this.slots
        .filter((s) => s.ready && s.index !== except)
        .map((s) => this.ask(s, (id) => ({ type: 'ask', id, body }))),
    );
  }

  /** Stops every worker (SIGKILL after 5 s) and stops restarting them. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (s) => {
        s.restart?.cancel();
        s.removeMetrics();
        const c = s.child;
        if (!c) return;
        await stopChild(c, this.o.clock, STOP_GRACE_MS, () =>
          c.connected ? c.send({ type: 'stop' } satisfies ToWorker) : c.kill('SIGTERM'),
        );
      }),
    );
  }

  private post(s: Slot, m: ToWorker, handle?: ListeningHandle): void {
    try {
      if (s.child?.connected) s.child.send(m, handle as never);
    } catch (e) {
      this.o.logger.warn({ err: e, worker: s.index }, `${this.o.what} worker: message not sent`);
    }
  }

  private ask(s: Slot, make: (id: number) => ToWorker): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimer(ANSWER_MS, () => {
        this.waiting.delete(id);
        this.o.logger.warn({ worker: s.index }, `${this.o.what} worker did not answer: replacing it`);
        s.child?.kill('SIGKILL');
        resolve(undefined);
      });
      this.waiting.set(id, { slot: s, resolve, timer });
      this.post(s, make(id));
    });
  }

  private answered(id: number, value: unknown): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    w.timer.cancel();
    w.resolve(value);
  }

  /** A worker that exited answers nothing more: what waits on it goes on without it. */
  private abandon(s: Slot): void {
    for (const [id, w] of this.waiting) if (w.slot === s) this.answered(id, undefined);
  }

  private metricsOf(s: Slot): RemoteMetrics {
    return async () => {
      if (!s.ready) return [];
      const r = (await this.ask(s, (id) => ({ type: 'metrics', id }))) as { metrics: never[] } | undefined;
      return r?.metrics ?? [];
    };
  }

  private restartLater(s: Slot): void {
    const delay = s.backoff.next(this.o.clock.now() - s.startedAt);
    s.restart = this.o.clock.setTimer(delay, () => {
      s.restart = undefined;
      if (this.closing) return;
      this.spawn(s).catch((e: unknown) => {
        this.o.logger.error({ err: e, worker: s.index }, `${this.o.what} worker did not start again`);
        if (!this.closing) this.restartLater(s);
      });
    });
  }

  private onMessage(s: Slot, child: ChildProcess, m: FromWorker, started: (e?: Error) => void): void {
    switch (m.type) {
      case 'built':
        // the sockets only now: one sent while the worker's modules still load would be
        // taken by a server no one listens to yet, and its connections would hang
        for (const [i, h] of this.o.handles().entries()) this.post(s, { type: 'listen', i }, h);
        return;
      case 'ready':
        s.ready = true;
        this.o.logger.debug({ worker: s.index, pid: child.pid }, `${this.o.what} worker serving`);
        started();
        this.o.onReady?.(s.index);
        return;
      case 'failed':
        this.o.logger.error({ worker: s.index }, `${this.o.what} worker failed: ${m.message}`);
        started(coreErrors.ERR_CORE_WORKER_START(`${this.o.what} worker ${s.index}: ${m.message}`));
        return;
      case 'ask': {
        const answer = this.o.onAsk ? this.o.onAsk(s.index, m.body) : Promise.resolve(undefined);
        answer.then(
          (value) => this.post(s, { type: 'answer', id: m.id, value }),
          (e: unknown) => {
            this.o.logger.warn({ err: e, worker: s.index }, `${this.o.what} worker's request failed`);
            this.post(s, { type: 'answer', id: m.id, value: undefined });
          },
        );
        return;
      }
      case 'answer':
        if (m.error) this.o.logger.warn({ worker: s.index }, `${this.o.what} worker: ${m.error}`);
        this.answered(m.id, m.value);
        return;
      case 'metrics':
        this.answered(m.id, m);
        return;
      case 'requests':
        this.o.onRequests?.(m.n);
        return;
    }
  }

  private spawn(s: Slot): Promise<void> {
    const { path, execArgv } = entryOf(this.o.entry);
    const child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    s.child = child;
    s.ready = false;
    s.startedAt = this.o.clock.now();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const started = (e?: Error) => {
        if (settled) return;
        settled = true;
        startTimer.cancel();
        if (e) {
          child.kill('SIGKILL');
          reject(e);
        } else resolve();
      };
      const startTimer = this.o.clock.setTimer(START_MS, () =>
        started(coreErrors.ERR_CORE_WORKER_START(`${this.o.what} worker ${s.index}: not ready after ${START_MS} ms`)),
      );
      child.on('message', (m: FromWorker) => this.onMessage(s, child, m, started));
      // a message sent as the worker exits fails asynchronously (EPIPE on the IPC channel): the
      // exit handler deals with the worker; without a listener the error would be uncaught
      child.on('error', (e) => this.o.logger.debug({ err: e, worker: s.index }, `${this.o.what} worker: IPC error`));
      child.once('exit', (code, signal) => {
        s.ready = false;
        this.abandon(s);
        if (!settled) {
          started(
            coreErrors.ERR_CORE_WORKER_START(
              `${this.o.what} worker ${s.index} exited while starting (${signal ?? `code ${code}`})`,
            ),
          );
          return;
        }
        if (this.closing) return;
        this.o.logger.warn({ worker: s.index, code, signal }, `${this.o.what} worker exited: starting it again`);
        this.restartLater(s);
      });
      this.post(s, { type: 'start', index: s.index, payload: this.o.payload(s.index) });
    });
  }
}
