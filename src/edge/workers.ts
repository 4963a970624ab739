/**
 * Edge workers (`edge.workers: N`): the zone's edge is its own process and N-1 workers
 * (core/worker-pool.ts) on the same listening sockets. Each keeps its own memory tier and
 * disk ring; an admin change (purge, push, preload, an unsafe request's invalidation) made
 * in any process is applied by all before it answers.
 */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import { WorkerPool } from '../core/worker-pool.ts';
import type { Edge, EdgeAdminOp } from './edge.ts';
import type { EdgeConfig } from './filters.ts';

/** What a worker builds the same edge as its zone's process from. */
export interface EdgeWorkerPayload {
  zone: string;
  config: EdgeConfig;
  origin: string;
  dynamic: string | undefined;
  token: string;
  hosts: readonly string[];
  zoneEdges: [string, string][];
  /** The listeners' hosts, in the order their sockets follow (the main one first). */
  listeners: string[];
  logLevel: string;
}

/** Zone process ↔ edge worker messages (asks both ways). */
export type EdgeWorkerMessage = { kind: 'apply'; op: EdgeAdminOp } | { kind: 'zones'; entries: [string, string][] };

export interface EdgeWorkersOptions {
  /** The zone's own edge, already listening on every address it serves. */
  edge: Edge;
  /** Processes in all, the zone's own included (≥ 2). */
  count: number;
  start: Omit<EdgeWorkerPayload, 'listeners' | 'zoneEdges'>;
  zoneEdges: () => ReadonlyMap<string, string>;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  /** Requests the workers answered (the zone's load meter). */
  onRequests: (n: number) => void;
}

/** The zone's edge workers. */
export class EdgeWorkers {
  private readonly pool: WorkerPool;
  private zonesSent = '';
  private zonesTimer: { cancel(): void } | undefined;

  constructor(private readonly o: EdgeWorkersOptions) {
    this.pool = new WorkerPool({
      what: `${o.start.zone} edge`,
      entry: new URL('./worker-main.ts', import.meta.url),
      count: o.count,
      payload: (index) => this.payload(index),
      handles: () => o.edge.listeningServers(),
      clock: o.clock,
      logger: o.logger,
      metrics: o.metrics,
      onRequests: o.onRequests,
      // a change made in a worker: here, then in every other worker
      onAsk: async (from, body) => {
        const m = body as EdgeWorkerMessage;
        if (m.kind !== 'apply') return 0;
        return (await o.edge.applyRelayed(m.op)) + (await this.others(m.op, from));
      },
    });
  }

  /** Starts every worker; rejects (ERR_CORE_WORKER_START) naming one that did not start. */
  async start(): Promise<void> {
    this.o.edge.relay = (op) => this.others(op, undefined);
    await this.pool.start();
    this.zonesTimer = this.o.clock.setInterval(1000, () => this.sendZones());
  }

  pids(): number[] {
    return this.pool.pids();
  }

  async close(): Promise<void> {
    this.zonesTimer?.cancel();
    this.o.edge.relay = undefined;
    await this.pool.close();
  }

  /** Applies a change in every worker but `except`; what they purged or stored. A worker not running now starts empty. */
  private async others(op: EdgeAdminOp, except: number | undefined): Promise<number> {
    const answers = await this.pool.askAll({ kind: 'apply', op } satisfies EdgeWorkerMessage, except);
    return answers.reduce<number>((a, n) => a + (typeof n === 'number' ? n : 0), 0);
  }

  private payload(index: number): EdgeWorkerPayload {
    const cfg = this.o.start.config;
    return {
      ...this.o.start,
      config: cfg.disk.path ? { ...cfg, disk: { ...cfg.disk, path: `${cfg.disk.path}.w${index}` } } : cfg,
      zoneEdges: [...this.o.zoneEdges()].sort(),
      listeners: this.o.edge.listeningServers().map((srv) => {
        const a = srv.address();
        return typeof a === 'object' && a ? a.address : '';
      }),
    };
  }

  private sendZones(): void {
    const entries = [...this.o.zoneEdges()].sort();
    const text = JSON.stringify(entries);
    if (text === this.zonesSent) return;
    this.zonesSent = text;
    this.pool.tell({ kind: 'zones', entries } satisfies EdgeWorkerMessage);
  }
}
