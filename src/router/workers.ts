/**
 * Router workers (`router.workers: N`): a zone's router is its own process and N-1 workers
 * (core/worker-pool.ts) on the same listening sockets (its address and its anycast ones). A
 * worker builds the same router from the topology and routes by a copy of its zone's view of
 * the shard map (shardmap/mirror.ts), with the zone's lease as a wall-clock expiry, the
 * addresses of the app and the other zones' routers, the drill's partitions and the external
 * app's health. The zone's process sends that state when the map or a partition changes and
 * every `tickMs` (leases are renewed without a map change), so a copy never holds a lease
 * longer than the zone's keeper does.
 */
import type { Server as NetServer } from 'node:net';
import { stringify } from 'yaml';
import type { Clock, Timer } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/metrics.ts';
import { WorkerPool } from '../core/worker-pool.ts';
import type { MapMirror, ShardMap } from '../shardmap/index.ts';
import type { HostPort, Topology } from '../topology/index.ts';
import type { RequestSigner, RequestSignerOptions } from '../trust/index.ts';
import type { ZoneRouter } from './server.ts';

/** A signer as it crosses to a worker (RequestSigner.transferable()). */
export type SignerParts = Omit<RequestSignerOptions, 'clock' | 'nonce'>;

/** What a worker routes by; sent whole on every change and every tick. */
export interface RouterWorkerState {
  map: MapMirror;
  /** 'app' and every other zone's router, where known. */
  addresses: Record<string, HostPort>;
  /** Zones a drill cut off (ZoneFaults). */
  isolated: string[];
  /** The external app's health, as the zone's watch judges it. */
  appUp: boolean;
}

/** What a worker builds its zone's router from. */
export interface RouterWorkerPayload {
  zone: string;
  /** The topology as YAML (its validated config: parsing it again gives the same topology). */
  topology: string;
  file: string;
  signer: SignerParts;
  /** The external app's signer (`zones.<z>.app.keyFile`), when the zone has one. */
  app: SignerParts | undefined;
  /** Listening sockets: the router's own, then its anycast ones. */
  listeners: number;
  state: RouterWorkerState;
}

export interface RouterWorkersOptions {
  zone: string;
  topology: Topology;
  /** The zone's own router, already listening. */
  router: ZoneRouter;
  /** The router's anycast listeners (alsoListen), already listening. */
  also: () => NetServer[];
  /** The zone's view of the map, with its lease keeper attached. */
  map: ShardMap;
  signer: RequestSigner;
  app?: { signer: RequestSigner; up(): boolean };
  resolve(name: string): HostPort | undefined;
  /** Zones cut off now, and a subscription to changes. */
  isolated(): string[];
  onIsolated?(listener: () => void): () => void;
  /** Processes in all, the zone's own included (≥ 2). */
  count: number;
  /** How often the whole state is sent even without a change (leases); default 200 ms. */
  tickMs?: number;
  clock: Clock;
  logger: Logger;
  metrics: Registry;
  onRequests?(n: number): void;
}

/** The zone's router workers. */
export class RouterWorkers {
  private readonly pool: WorkerPool;
  private pending: Timer | undefined;
  /** The map revision whose owners the workers were last sent. */
  private sentRevision = -1;
  private tick: Timer | undefined;
  private readonly unwatch: (() => void)[] = [];

  constructor(private readonly o: RouterWorkersOptions) {
    this.pool = new WorkerPool({
      what: `${o.zone} router`,
      entry: new URL('./worker-main.ts', import.meta.url),
      count: o.count,
      payload: () =>
        ({
          zone: o.zone,
          topology: stringify(o.topology.config),
          file: o.topology.file,
          signer: o.signer.transferable(),
          app: o.app?.signer.transferable(),
          listeners: 1 + o.also().length,
          state: this.state(),
        }) satisfies RouterWorkerPayload,
      handles: () => [o.router.server as NetServer, ...o.also()],
      clock: o.clock,
      logger: o.logger,
      metrics: o.metrics,
      ...(o.onRequests ? { onRequests: o.onRequests } : {}),
      // the map may have moved between the payload and the worker's first answer
      onReady: (i) => void this.pool.askOne(i, this.state()),
    });
  }

  /**
   * The state a worker routes by, as of now. The owners go with it only when `owners` (a new
   * worker, a map change) or when the map moved since they were last sent; a tick otherwise
   * carries the leases, addresses and health alone, not a copy of every shard.
   */
  private state(owners = true): RouterWorkerState {
    const addresses: Record<string, HostPort> = {};
    for (const name of ['app', ...this.o.topology.zones.map((z) => z.name)]) {
      if (name === this.o.zone) continue;
      const hp = this.o.resolve(name);
      if (hp) addresses[name] = { host: hp.host, port: hp.port };
    }
    const map = this.o.map.mirror(owners || this.o.map.revision !== this.sentRevision);
    if (map.shards) this.sentRevision = map.revision;
    return {
      map,
      addresses,
      isolated: this.o.isolated(),
      appUp: this.o.app?.up() ?? true,
    };
  }

  private send(owners: boolean): void {
    this.pool.tell(this.state(owners));
  }

  async start(): Promise<void> {
    // a move comes as a burst of shard changes: one copy per burst
    const soon = () => {
      this.pending ??= this.o.clock.setTimer(0, () => {
        this.pending = undefined;
        this.send(true);
      });
    };
    this.unwatch.push(this.o.map.watch(soon));
    if (this.o.onIsolated) this.unwatch.push(this.o.onIsolated(soon));
    this.tick = this.o.clock.setInterval(this.o.tickMs ?? 200, () => this.send(false));
    await this.pool.start();
  }

  pids(): number[] {
    return this.pool.pids();
  }

  async close(): Promise<void> {
    for (const u of this.unwatch.splice(0)) u();
    this.pending?.cancel();
    this.tick?.cancel();
    await this.pool.close();
  }
}
