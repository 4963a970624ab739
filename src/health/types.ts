import type { Role } from '../topology/index.ts';

/** One probed listener: a zone's listener for a role. `id` is steering's endpoint id. */
export interface HealthTarget {
  /** `${zone}/${role}`, the id steering uses. */
  id: string;
  zone: string;
  role: Role;
  host: string;
  port: number;
  /** The listener speaks HTTPS (its role has `tls` configured): http probes use TLS. */
  tls?: boolean;
  /** An http probe of this path instead of the role's `health.probes` (an external app's health path, 2xx). */
  http?: { path: string; expectStatus: readonly string[] };
}

/** How one probe is made; the network is behind this function so tests can replace it. */
export interface ProbeRequest {
  target: HealthTarget;
  /** The prober zone this probe is made for. */
  prober: string;
  kind: 'http' | 'tcp' | 'dns';
  /** http: the path requested. */
  path: string;
  /** http: e.g. ['2xx', '304']. */
  expectStatus: readonly string[];
  /** dns: the name queried (the apex). */
  dnsName: string;
  /** The prober zone's own address, bound as the probe's source; undefined = any. */
  localAddress: string | undefined;
  /** Aborted when the probe times out or the checker stops; the probe must release its socket. */
  signal: AbortSignal;
}

/** Resolves when the endpoint answered as expected; rejects with a coded error otherwise. */
export type ProbeFn = (req: ProbeRequest) => Promise<void>;

/** Injected for tests: simulates a prober zone cut off from an endpoint ('drop' = black hole). */
export type FaultHook = (fromZone: string, endpointId: string) => 'ok' | 'drop';

/** One prober zone's opinion of one endpoint, with hysteresis. */
export interface Vote {
  /** 'unknown' until rise successes or fall failures have been seen. */
  state: 'unknown' | 'up' | 'down';
  lastResult: 'ok' | 'fail' | null;
  /** Consecutive successes (0 after a failure). */
  successes: number;
  /** Consecutive failures (0 after a success). */
  failures: number;
  lastError: { code: string; message: string } | null;
  lastRttMs: number | null;
  /** Wall-clock ms of the last finished probe. */
  lastProbeAt: number | null;
  probes: number;
  /** Probes whose timeout fired late because this process was stalled; they count neither way. */
  stalled: number;
  /** True for a prober zone running in another process (its state arrives through applyRemoteVote). */
  remote?: boolean;
}

/** A zone's key endpoint's votes: the probers voting it down, of how many fresh votes. */
export interface ZoneVotes {
  down: string[];
  counted: number;
}

/** A local prober's vote changed state (published so other processes can count it). */
export interface VoteEvent {
  prober: string;
  endpointId: string;
  state: Vote['state'];
  /** Wall-clock ms of the probe that changed it: when the vote was cast. */
  at: number;
}

/** An endpoint's quorum verdict and who voted what. */
export interface EndpointVerdict {
  endpointId: string;
  zone: string;
  role: Role;
  host: string;
  port: number;
  kind: 'http' | 'tcp' | 'dns';
  up: boolean;
  /** Wall-clock ms of the last flip (or of the start). */
  since: number;
  /** Times the verdict flipped. */
  changes: number;
  /** What steering is told: up and its zone up (a dead zone's other endpoints get no traffic). */
  answered: boolean;
  /** Per prober zone. */
  votes: Record<string, Vote>;
}

/** Emitted when an endpoint's verdict flips. `at` is wall-clock ms. */
export interface HealthChangeEvent {
  endpointId: string;
  zone: string;
  role: Role;
  up: boolean;
  at: number;
}

/** A zone's verdict: the verdict of its key endpoint (router, else app, else edge, …). */
export interface ZoneVerdict {
  zone: string;
  up: boolean;
  /** The endpoint whose verdict decides the zone's, or null when the zone has none. */
  keyEndpoint: string | null;
}

/**
 * The health checker, the runtime's `services.health` in a running cluster.
 * Consumers (failover, dashboard) use only this interface.
 */
export interface HealthChecker {
  /** Every endpoint's verdict with its votes, in topology order. */
  verdicts(): EndpointVerdict[];
  /** One endpoint's verdict, or undefined for an id that is not probed. */
  verdict(endpointId: string): EndpointVerdict | undefined;
  /** True unless the quorum says the zone's key endpoint is down. Unknown zone: throws. */
  zoneUp(zone: string): boolean;
  /**
   * Who says what about a zone now: the probers voting its key endpoint down, and how many
   * votes count (local ones, and remote ones still fresh). Undefined for a zone without one.
   */
  zoneVotes(zone: string): ZoneVotes | undefined;
  /** Every zone's verdict, in topology order. */
  zones(): ZoneVerdict[];
  /** Every voting zone, local probers first, then remote ones. */
  probers(): readonly string[];
  /** Votes needed to flip a verdict. */
  quorum(): number;
  /** Called on every endpoint verdict flip; returns an unsubscribe function. */
  onChange(listener: (e: HealthChangeEvent) => void): () => void;
  /** Called when a zone's verdict flips; returns an unsubscribe function. */
  onZoneChange(listener: (zone: string, up: boolean) => void): () => void;
  /** Called when a local prober's vote changes state; returns an unsubscribe function. */
  onVote(listener: (e: VoteEvent) => void): () => void;
  /**
   * A remote prober's vote (distributed mode: each process probes from its own zones and
   * shares votes through the control Kv), cast at `at` (the sender's wall-clock ms; default:
   * now). Freshness is judged by `at` against this process's wall clock: a vote cast more
   * than `remoteStaleMs` ago counts as unknown (on arrival, or later by the sweeper), a vote
   * not newer than the one held is ignored (replays don't refresh it), and so are an unknown
   * prober or endpoint and a vote cast more than `remoteStaleMs` in the future.
   */
  applyRemoteVote(prober: string, endpointId: string, state: Vote['state'], at?: number): void;
  /**
   * Holds every verdict (true) or releases them (false): vote sharing holds them while this
   * process cannot reach the control Kv past the stale bound, so a prober cut off from the
   * Kv majority decides nothing.
   */
  hold(on: boolean): void;
  /** Starts probing (idempotent). */
  start(): void;
  /** Stops probing and aborts probes in flight. */
  stop(): Promise<void>;
  /**
   * Resolves once no probe is waiting on the network (for tests driving a ManualClock over
   * real sockets). Probes the fault hook dropped wait on the clock and are not waited for.
   */
  settle(): Promise<void>;
}

/** Where verdicts go: the cluster's MutableSteeringState (only setUp is needed). */
export interface VerdictSink {
  setUp(endpointId: string, up: boolean): void;
}
