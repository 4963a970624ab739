import type { Clock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import type { Steering, SteeringState } from '../steering/index.ts';
import type { Topology, TopologyConfig } from '../topology/index.ts';
import { dnsErrors } from './errors.ts';
import type { DnsStats } from './metrics.ts';
import type { Ecs } from './wire/ecs.ts';
import type { ParsedQuery } from './wire/query.ts';
import type { ReplyOpt } from './wire/reply.ts';
import type { CompiledZone } from './zone-data.ts';

/** How a query arrived; DoH messages are answered as over TCP (never truncated), and padded. */
export type Transport = 'udp' | 'tcp' | 'doh';
export type DnsConfig = TopologyConfig['dns'];

/** Steering state with an optional version that bumps on every change (MutableSteeringState has one). */
export type VersionedState = SteeringState & { version?: number };

/** One query on its way through the chain. Stages enrich it; the one that answers sets `reply`. */
export interface DnsContext {
  readonly raw: Buffer;
  readonly transport: Transport;
  /** The packet's source address and port. */
  readonly address: string;
  readonly port: number;
  /** Arrival time on the injected clock (ms), read once per packet. */
  readonly now: number;
  /** Set by `parse`. */
  query: ParsedQuery | null;
  /** The question's type (for metrics), 0 until `parse` or a cache hit sets it. */
  qtype: number;
  /** Largest UDP reply the asker takes (512 without EDNS); set by `edns`. */
  udpLimit: number;
  /** The OPT our reply carries (null when the query had none); set by `edns`. */
  replyOpt: ReplyOpt | null;
  /** The query's client subnet option; set by `edns`. */
  ecs: Ecs | null;
  /** The client subnet's SOURCE PREFIX-LENGTH, -1 without one; set by `edns` or `lean`. */
  ecsSource: number;
  /** Answered by the `lean` stage (no ParsedQuery: `query` stays null). */
  lean: boolean;
  /** Who steering sees: 'addr/prefix' from ECS or the source address; set by `client-subnet`. */
  client: string;
  /** The encoded reply, or null for none (dropped). */
  reply: Buffer | null;
  /** The reply's full rcode, -1 while there is none. */
  rcode: number;
  /** Seconds the reply may be reused (its smallest record TTL), or -1 when unknown; set by `answer`. */
  ttl: number;
  /** Why the packet was rejected (the metric's reason), or null. */
  rejected: string | null;
  /** Chain bookkeeping: index of the next stage allowed to run. */
  step: number;
}

/** Creates a fresh context for a packet. */
export function newContext(raw: Buffer, transport: Transport, address: string, port: number, now = 0): DnsContext {
  return {
    raw,
    transport,
    address,
    port,
    now,
    query: null,
    qtype: 0,
    udpLimit: 512,
    replyOpt: null,
    ecs: null,
    ecsSource: -1,
    lean: false,
    client: address,
    reply: null,
    rcode: -1,
    ttl: -1,
    rejected: null,
    step: 0,
  };
}

/** What a stage may use; built once per server. */
export interface StageDeps {
  topology: Topology;
  config: DnsConfig;
  zone: CompiledZone;
  steering: Steering;
  state: VersionedState;
  clock: Clock;
  stats: DnsStats;
  logger: Logger;
  /** The zone this server belongs to, answered to `id.server` (CHAOS); null when none. */
  serverId: string | null;
  /** Whether the `lean` stage is on (MZ_DNS_LEAN_PATH=0 turns it off, to compare the paths). */
  leanPath: boolean;
}

/** Passes the context to the rest of the chain. Call at most once. */
export type Next = (ctx: DnsContext) => void;
/** A built stage: answers (sets ctx.reply, or leaves it null to drop) or calls next exactly once. */
export type Handler = (ctx: DnsContext, next: Next) => void;

/** A named stage: created once per server; null means "off for this config". */
export interface DnsStage {
  name: string;
  create(deps: StageDeps): Handler | null;
}

/**
 * Links handlers into one function, once. Each `next` is a closure built here, not per
 * query; the context's `step` makes a second call of the same `next` throw.
 */
export function composeChain(handlers: readonly Handler[], names: readonly string[] = []): (ctx: DnsContext) => void {
  const nexts: Next[] = new Array(handlers.length);
  for (let i = handlers.length - 1; i >= 0; i--) {
    const after = i + 1;
    const h = handlers[after];
    const n = nexts[after];
    nexts[i] = (ctx) => {
      if (ctx.step > after)
        throw dnsErrors.ERR_DNS_NEXT_TWICE(`dns/${names[i] ?? i}: next() called twice`, {
          details: { stage: names[i] },
        });
      ctx.step = after + 1;
      if (h && n) h(ctx, n);
    };
  }
  const first = handlers[0];
  const firstNext = nexts[0];
  return (ctx) => {
    ctx.step = 1;
    if (first && firstNext) first(ctx, firstNext);
  };
}
