import { type NatsConnection, connect as natsConnect } from 'nats';
import type { Clock } from '../core/clock.ts';
import { NATS_LIVENESS } from '../core/nats-liveness.ts';

/** What the lab saw of the control Kv during one drill's fault. */
export interface KvProbeResult {
  /** The NATS server leading the Kv's stream when the fault was made (null: unknown). */
  leader: string | null;
  /** ms from the cut during which the Kv took no write (the sum of the gaps, one put every PROBE_EVERY_MS). */
  unavailableMs: number;
}

/** A probe put every this many ms: fine enough to time a leader election of seconds. */
const PROBE_EVERY_MS = 100;
/** A put unanswered this long counts as refused (a leaderless stream answers nothing). */
const PUT_TIMEOUT_MS = 1000;

/**
 * Why this exists: every zone's lease lives in the control Kv, so while the Kv's stream has no
 * leader (its leader's server cut off, until the other replicas elect one: NATS raft's election
 * timeout, seconds) no zone can renew and every zone fences itself — a drill's RTO then
 * includes that election. The probe times it, from the lab's own namespace, so a report can
 * tell "the cluster was slow" from "the Kv had no leader".
 */
export class KvProbe {
  private running = false;
  private loop: Promise<void> | undefined;
  private gapStart: number | null = null;
  private unavailable = 0;
  private leader: string | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly bucket: string,
    private readonly clock: Clock,
  ) {}

  /** Connects to `servers`; null when the Kv cannot be reached at all (the report then says unknown). */
  static async open(servers: string[], bucket: string, clock: Clock): Promise<KvProbe | null> {
    try {
      const nc = await natsConnect({
        servers,
        timeout: 1000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 200,
        ...NATS_LIVENESS,
      });
      return new KvProbe(nc, bucket, clock);
    } catch {
      return null;
    }
  }

  /** Reads the stream leader, then probes until stop(). Call just before the cut. */
  async start(): Promise<void> {
    try {
      const jsm = await this.nc.jetstreamManager({ timeout: 1000 });
      this.leader = (await jsm.streams.info(`KV_${this.bucket}`)).cluster?.leader ?? null;
    } catch {
      this.leader = null;
    }
    this.running = true;
    // bindOnly: never create or reconfigure the zones' bucket
    const kv = await this.nc.jetstream({ timeout: PUT_TIMEOUT_MS }).views.kv(this.bucket, { bindOnly: true });
    this.loop = (async () => {
      while (this.running) {
        const at = this.clock.now();
        const ok = await kv.put('lab.probe', String(at)).then(
          () => true,
          () => false,
        );
        if (!ok && this.gapStart === null) this.gapStart = at;
        if (ok && this.gapStart !== null) {
          this.unavailable += at - this.gapStart;
          this.gapStart = null;
        }
        await this.clock.sleep(PROBE_EVERY_MS);
      }
    })();
  }

  /** Stops probing and closes; a gap still open counts up to now. */
  async stop(): Promise<KvProbeResult> {
    this.running = false;
    await this.loop;
    if (this.gapStart !== null) this.unavailable += this.clock.now() - this.gapStart;
    await this.nc.close().catch(() => {});
    return { leader: this.leader, unavailableMs: Math.round(this.unavailable) };
  }
}
