import { type NatsConnection, connect as natsConnect } from 'nats';
import { request } from 'undici';
import type { Clock } from '../core/clock.ts';
import { NATS_LIVENESS } from '../core/nats-liveness.ts';
import { EtcdKv } from '../shardmap/index.ts';

/** What the lab saw of the control Kv during one drill's fault. */
export interface KvProbeResult {
  /** The NATS server leading the Kv's stream (or the etcd member leading) when the fault was made (null: unknown). */
  leader: string | null;
  /** ms from the cut to the heal during which the Kv took no write (the sum of the gaps, one put every PROBE_EVERY_MS). */
  unavailableMs: number;
  /**
   * The same after the heal, until the drill ended: NATS 2.9's raft has no pre-vote, so a
   * server cut off for longer than an election timeout comes back with a higher term and
   * unseats the leaders of the groups it is in, and the Kv takes no write again for seconds.
   */
  afterHealMs: number;
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
  private afterHeal = 0;
  private healAt = Number.POSITIVE_INFINITY;
  private leader: string | null = null;

  private constructor(
    private readonly target: ProbeTarget,
    private readonly clock: Clock,
  ) {}

  /** Connects to the NATS `servers`; null when the Kv cannot be reached at all (the report then says unknown). */
  static async open(servers: string[], bucket: string, clock: Clock): Promise<KvProbe | null> {
    const t = await natsTarget(servers, bucket).catch(() => null);
    return t ? new KvProbe(t, clock) : null;
  }

  /** The same against the lab's etcd members (`lab up --kv etcd`). */
  static async openEtcd(members: string[], bucket: string, clock: Clock): Promise<KvProbe | null> {
    const t = await etcdTarget(members, bucket).catch(() => null);
    return t ? new KvProbe(t, clock) : null;
  }

  /** Reads the leader, then probes until stop(). Call just before the cut. */
  async start(): Promise<void> {
    this.leader = await this.target.leader().catch(() => null);
    const put = await this.target.putter();
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const at = this.clock.now();
        const ok = await put(String(at)).then(
          () => true,
          () => false,
        );
        if (!ok && this.gapStart === null) this.gapStart = at;
        if (ok && this.gapStart !== null) {
          this.count(this.gapStart, at);
          this.gapStart = null;
        }
        await this.clock.sleep(PROBE_EVERY_MS);
      }
    })();
  }

  /** The fault is healed: gaps from now on count as after the heal. */
  healed(): void {
    this.healAt = this.clock.now();
  }

  /** Adds a gap [from, to), split at the heal. */
  private count(from: number, to: number): void {
    this.unavailable += Math.max(0, Math.min(to, this.healAt) - from);
    this.afterHeal += Math.max(0, to - Math.max(from, this.healAt));
  }

  /** Stops probing and closes; a gap still open counts up to now. */
  async stop(): Promise<KvProbeResult> {
    this.running = false;
    await this.loop;
    if (this.gapStart !== null) this.count(this.gapStart, this.clock.now());
    await this.target.close().catch(() => {});
    return {
      leader: this.leader,
      unavailableMs: Math.round(this.unavailable),
      afterHealMs: Math.round(this.afterHeal),
    };
  }
}

/** What the probe needs of a Kv: who leads it, and a bounded put. */
interface ProbeTarget {
  leader(): Promise<string | null>;
  putter(): Promise<(value: string) => Promise<unknown>>;
  close(): Promise<void>;
}

async function natsTarget(servers: string[], bucket: string): Promise<ProbeTarget> {
  const nc: NatsConnection = await natsConnect({
    servers,
    timeout: 1000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
    ...NATS_LIVENESS,
  });
  return {
    async leader() {
      const jsm = await nc.jetstreamManager({ timeout: 1000 });
      return (await jsm.streams.info(`KV_${bucket}`)).cluster?.leader ?? null;
    },
    async putter() {
      // bindOnly: never create or reconfigure the zones' bucket
      const kv = await nc.jetstream({ timeout: PUT_TIMEOUT_MS }).views.kv(bucket, { bindOnly: true });
      return (v) => kv.put('lab.probe', v);
    },
    close: () => nc.close(),
  };
}

async function etcdTarget(members: string[], bucket: string): Promise<ProbeTarget> {
  const kv = await EtcdKv.open({ url: members.join(','), bucket, timeoutMs: PUT_TIMEOUT_MS });
  return {
    // the member every reachable member names as its leader, by name
    async leader() {
      for (const m of members) {
        const status = await postJson<{ leader?: string }>(`${m}/v3/maintenance/status`).catch(() => null);
        if (!status?.leader) continue;
        const list = await postJson<{ members?: { ID?: string; name?: string }[] }>(`${m}/v3/cluster/member/list`);
        return list.members?.find((x) => x.ID === status.leader)?.name ?? null;
      }
      return null;
    },
    putter: async () => (v) => kv.put('lab.probe', v),
    close: () => kv.close(),
  };
}

async function postJson<T>(url: string): Promise<T> {
  const r = await request(url, { method: 'POST', body: '{}', headersTimeout: 1000, bodyTimeout: 1000 });
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode}`);
  return (await r.body.json()) as T;
}
