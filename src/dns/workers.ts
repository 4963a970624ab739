/**
 * DNS workers (`dns.workers: N`): a zone's authoritative server is its own process and N-1
 * workers (core/worker-pool.ts) on the same UDP sockets and TCP listeners. A worker builds
 * the same server from the topology and the bundled geo database, and mirrors its zone
 * process's steering state (health verdicts, loads, shed shares): a change is sent to every
 * worker as it happens, so every process answers alike.
 */
import { stringify } from 'yaml';
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import { WorkerPool } from '../core/worker-pool.ts';
import type { MutableSteeringState, SteeringSnapshot } from '../steering/index.ts';
import type { Topology } from '../topology/index.ts';
import type { DnsConfig } from './chain.ts';
import type { DnsServer } from './server.ts';

/** What a worker builds its zone's DNS servers from. */
export interface DnsWorkerPayload {
  zone: string;
  /** The topology as YAML (its validated config: parsing it again gives the same topology). */
  topology: string;
  file: string;
  /** One server per host (the zone's dns listener, then its anycast addresses): UDP then TCP socket each. */
  hosts: string[];
  leanPath: boolean | undefined;
  /** The `dns:` settings when not the topology's own (the bench lifts RRL's limit). */
  config: DnsConfig | undefined;
  state: SteeringSnapshot;
  logLevel: string;
}

export interface DnsWorkersOptions {
  zone: string;
  topology: Topology;
  /** The zone's own servers, already listening. */
  servers: readonly DnsServer[];
  state: MutableSteeringState;
  /** Processes in all, the zone's own included (≥ 2). */
  count: number;
  leanPath?: boolean;
  config?: DnsConfig;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
}

/** The zone's DNS workers. */
export class DnsWorkers {
  private readonly pool: WorkerPool;
  private pending: { cancel(): void } | undefined;
  private unwatch: (() => void) | undefined;

  constructor(private readonly o: DnsWorkersOptions) {
    this.pool = new WorkerPool({
      what: `${o.zone} dns`,
      entry: new URL('./worker-main.ts', import.meta.url),
      count: o.count,
      payload: () => ({
        zone: o.zone,
        topology: stringify(o.topology.config),
        file: o.topology.file,
        hosts: o.servers.map((s) => s.host),
        leanPath: o.leanPath,
        config: o.config,
        state: o.state.snapshot(),
        logLevel: o.logger.level,
      }),
      handles: () => o.servers.flatMap((s) => [s.sockets.udp, s.sockets.tcp]),
      clock: o.clock,
      logger: o.logger,
      metrics: o.metrics,
      // the state may have moved between the payload and the worker's first answer
      onReady: (i) => void this.pool.askOne(i, { kind: 'state', state: o.state.snapshot() }),
    });
  }

  async start(): Promise<void> {
    // the state's changes come in bursts (a verdict, then loads): one snapshot per burst
    this.unwatch = this.o.state.watch(() => {
      this.pending ??= this.o.clock.setTimer(0, () => {
        this.pending = undefined;
        this.pool.tell({ kind: 'state', state: this.o.state.snapshot() });
      });
    });
    await this.pool.start();
  }

  pids(): number[] {
    return this.pool.pids();
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.pending?.cancel();
    await this.pool.close();
  }
}
