/**
 * Edge workers: `edge.workers: N` makes a zone's edge N processes — the zone's own and N-1
 * workers it forks — all accepting on the listening sockets the zone's process bound (sent
 * over IPC, so the kernel hands each connection to one of them, as with nginx's workers).
 * Each keeps its own memory tier and disk ring; an admin change (purge, push, preload, an
 * unsafe request's invalidation) made in any of them is applied by all before it answers.
 * Workers that exit are started again (0.5 s doubling to 30 s); their requests count in the
 * zone's load and their metrics are summed into the zone's /metrics.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Clock, Timer } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { addRemoteMetrics, type Registry, type RemoteMetrics } from '../core/metrics.ts';
import type { Edge, EdgeAdminOp } from './edge.ts';
import { edgeErrors } from './errors.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-protocol.ts';

/** How long a worker may take to apply a relayed change or answer a scrape before it is replaced. */
const ANSWER_MS = 5_000;
const START_MS = 20_000;
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;

/** `edge.workers` as a number of processes: `auto` is one per CPU. */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(1, availableParallelism()) : setting;
}

export interface EdgeWorkersOptions {
  /** The zone's own edge, already listening on every address it serves. */
  edge: Edge;
  /** Processes in all, the zone's own included (≥ 2). */
  count: number;
  /** What each worker builds its edge from (its index and disk path are filled in here). */
  start: Omit<WorkerStart, 'type' | 'index' | 'listeners' | 'zoneEdges'>;
  zoneEdges: () => ReadonlyMap<string, string>;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  /** Requests the workers answered since their last report (the zone's load meter). */
  onRequests: (n: number) => void;
}

interface Slot {
  index: number;
  child: ChildProcess | undefined;
  ready: boolean;
  failures: number;
  restart: Timer | undefined;
  removeMetrics: () => void;
}

/** The worker entry point, run through the TypeScript hooks when multizone runs from source. */
function workerEntry(): { path: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ts = self.endsWith('.ts');
  const path = fileURLToPath(new URL(ts ? './worker-main.ts' : './worker-main.js', import.meta.url));
  const hooks = fileURLToPath(new URL('../../bin/ts.mjs', import.meta.url));
  return { path, execArgv: ts ? ['--import', hooks] : [] };
}

/** The zone's edge workers. */
export class EdgeWorkers {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { slot: Slot; resolve: (v: unknown) => void; timer: Timer }>();
  private nextId = 1;
  private closing = false;
  private zonesSent = '';
  private zonesTimer: Timer | undefined;

  constructor(private readonly o: EdgeWorkersOptions) {}

  /** Starts every worker; resolves when each serves its sockets, or rejects naming the one that did not. */
  async start(): Promise<void> {
    this.o.edge.relay = (op) => this.broadcast(op, undefined);
    for (let i = 1; i < this.o.count; i++) {
      const slot: Slot = {
        index: i,
        child: undefined,
        ready: false,
        failures: 0,
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
    this.zonesTimer = this.o.clock.setInterval(1000, () => this.sendZones());
  }

  /** Pids of the running workers (for `/.mz/stats`-style reports and tests). */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.ready && s.child?.pid ? [s.child.pid] : []));
  }

  /** Stops every worker (SIGKILL after 5 s) and stops restarting them. */
  async close(): Promise<void> {
    this.closing = true;
    this.zonesTimer?.cancel();
    this.o.edge.relay = undefined;
    await Promise.all(
      this.slots.map(async (s) => {
        s.restart?.cancel();
        s.removeMetrics();
        const c = s.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const gone = new Promise<void>((r) => c.once('exit', () => r()));
        if (c.connected) c.send({ type: 'stop' } satisfies ToWorker);
        else c.kill('SIGTERM');
        const t = this.o.clock.setTimer(5_000, () => c.kill('SIGKILL'));
        await gone;
        t.cancel();
      }),
    );
  }

  private zonesEntries(): [string, string][] {
    return [...this.o.zoneEdges()].sort();
  }

  private sendZones(): void {
    const entries = this.zonesEntries();
    const text = JSON.stringify(entries);
    if (text === this.zonesSent) return;
    this.zonesSent = text;
    for (const s of this.slots) if (s.ready) this.post(s, { type: 'zones', entries });
  }

  private post(s: Slot, m: ToWorker, handle?: unknown): void {
    try {
      if (s.child?.connected) s.child.send(m, handle as never);
    } catch (e) {
      this.o.logger.warn({ err: e, worker: s.index }, 'edge worker: message not sent');
    }
  }

  /** Sends `m` and resolves with the worker's answer, or undefined when it gives none in time (then it is replaced). */
  private ask(s: Slot, make: (id: number) => ToWorker): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = this.o.clock.setTimer(ANSWER_MS, () => {
        this.waiting.delete(id);
        this.o.logger.warn({ zone: this.o.start.zone, worker: s.index }, 'edge worker did not answer: replacing it');
        s.child?.kill('SIGKILL');
        resolve(undefined);
      });
      this.waiting.set(id, { slot: s, resolve, timer });
      this.post(s, make(id));
    });
  }

  /** A worker that exited answers nothing more: what waits on it goes on without it. */
  private abandon(s: Slot): void {
    for (const [id, w] of this.waiting) if (w.slot === s) this.answered(id, undefined);
  }

  private restartLater(s: Slot): void {
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** s.failures);
    s.failures++;
    s.restart = this.o.clock.setTimer(delay, () => {
      s.restart = undefined;
      if (this.closing) return;
      this.spawn(s).catch((e: unknown) => {
        this.o.logger.error({ err: e, worker: s.index }, 'edge worker did not start again');
        if (!this.closing) this.restartLater(s);
      });
    });
  }

  private answered(id: number, value: unknown): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    w.timer.cancel();
    w.resolve(value);
  }

  /**
   * Applies a change in every process but `from`: the zone's own edge (when the change came
   * from a worker) and each live worker. A worker not running now starts empty, so skipping
   * it loses nothing; one that does not answer is replaced.
   */
  private async broadcast(op: EdgeAdminOp, from: Slot | undefined): Promise<number> {
    const here = from ? this.o.edge.applyRelayed(op) : Promise.resolve(0);
    const there = this.slots
      .filter((s) => s !== from && s.ready)
      .map(async (s) => {
        const r = (await this.ask(s, (id) => ({ type: 'apply', id, op }))) as { n: number } | undefined;
        return r?.n ?? 0;
      });
    const counts = await Promise.all([here, ...there]);
    return counts.reduce((a, b) => a + b, 0);
  }

  private metricsOf(s: Slot): RemoteMetrics {
    return async () => {
      if (!s.ready) return [];
      const r = (await this.ask(s, (id) => ({ type: 'metrics', id }))) as { metrics: never[] } | undefined;
      return r?.metrics ?? [];
    };
  }

  private spawn(s: Slot): Promise<void> {
    const { path, execArgv } = workerEntry();
    const child = fork(path, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    s.child = child;
    s.ready = false;
    const servers = this.o.edge.listeningServers();
    const cfg = this.o.start.config;
    const start: WorkerStart = {
      ...this.o.start,
      type: 'start',
      index: s.index,
      config: cfg.disk.path ? { ...cfg, disk: { ...cfg.disk, path: `${cfg.disk.path}.w${s.index}` } } : cfg,
      zoneEdges: this.zonesEntries(),
      listeners: servers.map((srv) => {
        const a = srv.address();
        return typeof a === 'object' && a ? a.address : '';
      }),
    };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const startTimer = this.o.clock.setTimer(START_MS, () => {
        if (settled) return;
        settled = true;
        child.kill('SIGKILL');
        reject(
          edgeErrors.ERR_EDGE_WORKER_START(
            `${this.o.start.zone} edge worker ${s.index}: not ready after ${START_MS} ms`,
          ),
        );
      });
      child.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'built':
            for (const [i, srv] of servers.entries()) this.post(s, { type: 'listen', i }, srv);
            return;
          case 'ready':
            s.ready = true;
            // a worker that stays up a minute starts its back-off afresh
            this.o.clock.setTimer(60_000, () => {
              if (s.child === child && s.ready) s.failures = 0;
            });
            if (!settled) {
              settled = true;
              startTimer.cancel();
              resolve();
            }
            this.o.logger.debug({ zone: this.o.start.zone, worker: s.index, pid: child.pid }, 'edge worker serving');
            return;
          case 'failed':
            this.o.logger.error({ zone: this.o.start.zone, worker: s.index }, `edge worker failed: ${m.message}`);
            if (!settled) {
              settled = true;
              startTimer.cancel();
              reject(edgeErrors.ERR_EDGE_WORKER_START(`${this.o.start.zone} edge worker ${s.index}: ${m.message}`));
            }
            return;
          case 'relay':
            void this.broadcast(m.op, s).then(
              (n) => this.post(s, { type: 'relayed', id: m.id, n }),
              () => this.post(s, { type: 'relayed', id: m.id, n: 0 }),
            );
            return;
          case 'applied':
            if (m.error) this.o.logger.warn({ worker: s.index }, `edge worker: relayed change failed: ${m.error}`);
            this.answered(m.id, m);
            return;
          case 'metrics':
            this.answered(m.id, m);
            return;
          case 'requests':
            this.o.onRequests(m.n);
            return;
        }
      });
      child.once('exit', (code, signal) => {
        s.ready = false;
        this.abandon(s);
        if (!settled) {
          settled = true;
          startTimer.cancel();
          reject(
            edgeErrors.ERR_EDGE_WORKER_START(
              `${this.o.start.zone} edge worker ${s.index} exited while starting (${signal ?? `code ${code}`})`,
            ),
          );
          return;
        }
        if (this.closing) return;
        this.o.logger.warn(
          { zone: this.o.start.zone, worker: s.index, code, signal },
          'edge worker exited: starting it again',
        );
        this.restartLater(s);
      });
      this.post(s, start);
    });
  }
}
