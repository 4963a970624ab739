import type { Clock } from '../core/clock.ts';
import type { Random } from '../core/random.ts';
import type { AckedWrite, ReadBack } from './accounts-workload.ts';
import type { DeliveryFigures } from './delivery-workload.ts';
import type { ExternalReadBack } from './external-workload.ts';

/** A fault made outside the control API (an external command, the lab). */
export interface ExternalFault {
  cut(): Promise<void>;
  heal(): Promise<void>;
}

/** What to drill. */
export interface DrillOptions {
  /** Control API base URL, e.g. http://127.0.0.1:7070. */
  control: string;
  zone: string;
  mode: 'kill' | 'partition';
  /** Requests per second across all users. */
  rps: number;
  /** Seconds of traffic in all (a quarter before the fault). */
  durationS: number;
  /**
   * Which failover flavour the traffic exercises: fenced (profiles) or available (orders).
   * Default: available on the delivery workload (its orders are), fenced otherwise.
   */
  consistency?: 'fenced' | 'available';
  /** Share of writes in the traffic, 0..1 (echo: POST; accounts: profile PUTs and comments). */
  writes: number;
  /**
   * The path the traffic writes and reads under (`<path>/<user>`): an external app's own
   * resource (`/notes`); default `/api/profiles` (`/api/orders` with available consistency).
   */
  path?: string;
  /** The workload to drive, instead of the one GET /api/topology names (`app`, `appName`). */
  workload?: DrillReport['workload'];
  /** Users (default: 2000 on the echo app, 200 on the accounts app, which registers and logs each in first). */
  users?: number;
  /** How long the read-back waits for every acknowledged write to show up (ms): accounts app in every zone, external app through the routers. */
  readBackTimeoutMs?: number;
  /** Accounts app: called for every write the drill gets a 2xx for (tests compare it with the store). */
  onAck?(w: AckedWrite): void;
  /** Makes the fault with these instead of the zone's control API (POST /api/drill/kill|restore). */
  external?: ExternalFault;
  /** Each zone's router and app, instead of reading them from GET /api/endpoints. */
  endpoints?: { routers: Map<string, string>; apps: Map<string, string> };
  /** Conflicts the drill opens do not fail it (partition drills on available data open some by design). */
  allowConflicts?: boolean;
  /** Restore the zone (and fail back) when the traffic ends. */
  restore: boolean;
  failback: boolean;
  clock: Clock;
  random: Random;
  onProgress?(p: DrillProgress): void;
}

/** Where the drill is, for a progress line: sent every 250 ms during the traffic and once per later phase. */
export interface DrillProgress {
  elapsedS: number;
  durationS: number;
  phase: 'setup' | 'warmup' | 'fault' | 'draining' | 'read-back';
  ok: number;
  failed: number;
  affectedFailed: number;
}

/** The drill's result (printed as a table, or as JSON with --json). */
export interface DrillReport {
  /** The app the cluster runs (from GET /api/topology): `echo`, or `accounts` (registered users, real replicated writes). */
  workload: 'echo' | 'accounts' | 'external' | 'delivery';
  zone: string;
  mode: 'kill' | 'partition';
  /** Who made the fault: the zone's own process through its control API, or an external fault (a command, the lab). */
  fault: 'control-api' | 'external';
  /** Wall ms the fault was made (null when it never was). */
  faultAt: number | null;
  /** The control API the drill watched the cluster through (a process the fault does not take down). */
  observer: string;
  consistency: 'fenced' | 'available';
  path: string;
  rps: number;
  durationS: number;
  users: { total: number; affected: number };
  requests: { total: number; ok: number; failed: number; affected: number; affectedOk: number };
  /**
   * Share of requests sent more than 2 s (the client timeout) before the fault that succeeded;
   * a low one means the cluster or the machine was overloaded and the RTO is unreliable.
   */
  baseline: number;
  /** ms from the fault to the first 1 s window in which ≥ 99 % of affected users' requests succeed. */
  rtoMs: number | null;
  goal: { rtoMs: number; met: boolean; misroutedWrites: number };
  leaseMs: number;
  errors: Record<string, number>;
  /** Writes served by a zone that did not own the shard at that epoch, or at an epoch already superseded. */
  misrouted: { writes: number; unverifiable: number };
  /** Shards of the zone that moved during the drill, and to where. */
  moved: Record<string, number>;
  perSecond: {
    second: number;
    affected: number;
    affectedOk: number;
    total: number;
    ok: number;
    errors: Record<string, number>;
  }[];
  rpo: string;
  /**
   * Accounts app: the faulted zone's acknowledged writes that the surviving zones did not hold
   * when the traffic ended — including every write it acknowledged after the cut (a partitioned
   * zone keeps answering until its lease runs out). What the survivors took over without.
   */
  unshipped?: { count: number; afterCut: number; windowMs: number };
  /** Conflicts (locked records) open in the cluster before the drill and after it; `opened` fails the drill unless allowed. */
  conflicts?: { before: number; after: number; opened: number; allowed: boolean };
  /** The cluster when the drill ended: shards per zone, the global writer, zone states, the leader's term. */
  after?: ClusterState;
  wrt: string;
  /**
   * Acknowledged writes neither applied nor locked after the zone returned (must be 0): on the
   * accounts app the drill's own read-back of every write it got a 2xx for, from every zone's
   * store; otherwise the data plane's count for the RPO snapshot.
   */
  lost: number | null;
  /** What the data plane measured at restore (RPO snapshot at the fault, WRT, fates of its writes). */
  data?: RestoreData;
  /** Accounts app: the drill's read-back of every acknowledged write in every zone. */
  readBack?: ReadBack;
  /** External app: each user's last acknowledged write read back through the routers after the drill (and the failback, if asked). */
  externalReadBack?: ExternalReadBack;
  /** Delivery service: orders and transitions read back, locked orders, oversold units, menu staleness. */
  delivery?: DeliveryFigures;
  /** Accounts app: logins again because a write's session lived in a zone that was gone (then the write was retried once). */
  relogins?: number;
  /** Accounts app: registrations, logins and first writes of the setup retried after a 5xx. */
  setupRetries?: number;
  restore?: { restored: boolean; failback?: { moved?: number; tookMs?: number; error?: string } };
  /**
   * The control Kv during the fault, when the drill's faulter could watch it (the lab does):
   * the stream leader at the cut, whether the fault took it away, and how long no write was
   * taken before the heal and after it (until the drill's read-back ended). Every lease lives in the Kv, so a leaderless Kv fences every zone until a new
   * leader is elected: the RTO of such a run includes that election.
   */
  kv?: { leader: string | null; leaderCut: boolean; unavailableMs: number; afterHealMs: number };
  /**
   * The anycast address during the fault, when the drill's faulter could watch it (the lab does):
   * the zone answering a client before the cut, ms from the cut until the upstream router
   * withdrew the zone's route and until the client was answered by another zone (`answeredBy`),
   * and ms from the heal until the zone's route was back (restart, failback, rise). Null: not
   * seen within the drill.
   */
  anycast?: AnycastFigures;
}

/** What /api/drill/restore reports when the data plane runs. */
export interface RestoreData {
  /** Acknowledged writes of the zone no other zone (or not every one) had applied at the fault, and their time span. */
  rpo: { count: number; windowMs: number };
  wrtMs: number | null;
  applied: number;
  locked: number;
  pending: number;
  lost: number;
}

/** The cluster as the control API shows it at one moment. */
export interface ClusterState {
  shards: Record<string, number>;
  global: { zone: string; epoch: number } | null;
  states: Record<string, string>;
  leader: { holder?: string; term?: number } | null;
}

/** What a drill saw of the anycast address around the fault of one zone. */
export interface AnycastFigures {
  address: string;
  /** The zone answering the client just before the cut. */
  before: string | null;
  /** From the cut until the router held no route from the zone (null: never within the drill). */
  withdrawnMs: number | null;
  /** From the cut until the client was answered by another zone (0 when the zone was not answering before). */
  otherMs: number | null;
  /** The zone answering then. */
  answeredBy: string | null;
  /** From the heal until the router held the zone's route again (the restart, failback and rise). */
  backMs: number | null;
}
