import { type Clock, systemClock } from '../core/clock.ts';
import { type Logger, silentLogger } from '../core/logger.ts';
import { type Steering, staticState } from '../steering/index.ts';
import type { Topology } from '../topology/index.ts';
import {
  composeChain,
  type DnsConfig,
  type DnsContext,
  type DnsStage,
  type Handler,
  newContext,
  type StageDeps,
  type Transport,
  type VersionedState,
} from './chain.ts';
import { DnsStats } from './metrics.ts';
import { STAGES } from './stages/order.ts';
import { questionEndOf, RCODE } from './wire/query.ts';
import { encodeReply } from './wire/reply.ts';
import { compileZone } from './zone-data.ts';

export interface DnsHandlerOptions {
  topology: Topology;
  steering: Steering;
  /** Live health and load; its `version` (if any) invalidates cached replies. */
  state?: VersionedState;
  clock?: Clock;
  logger?: Logger;
  /** Default: the topology's dns: section. */
  config?: DnsConfig;
  /** Default: the stage list in stages/order.ts (tests swap in others). */
  stages?: readonly DnsStage[];
  /** The zone this server belongs to, answered to `id.server` and `hostname.bind` (CHAOS TXT). */
  serverId?: string;
  /**
   * The `lean` stage (one-pass answers to common misses). Default: on, unless the environment
   * says MZ_DNS_LEAN_PATH=0 — a switch to compare the two paths and to rerun the suites on
   * the full one (test/integration/dns/full-path.test.ts), not a config option.
   */
  leanPath?: boolean;
}

/** A socket-free DNS handler: bytes in, reply bytes (or null: send nothing) out. */
export interface DnsHandler {
  handle(raw: Buffer, transport: Transport, address: string, port: number): Buffer | null;
  /**
   * handle() with what the reply may be cached for: its smallest record TTL in seconds
   * (-1 when it has no records), for DoH's Cache-Control (RFC 8484 §5.1).
   */
  answer(raw: Buffer, transport: Transport, address: string, port: number): { reply: Buffer | null; ttl: number };
  readonly stats: DnsStats;
  /** Names of the stages that are on, in order. */
  readonly stages: readonly string[];
}

/** Builds the stage chain once. Throws ERR_DNS_BAD_CONFIG for a dns: section that doesn't fit the topology. */
export function createDnsHandler(opts: DnsHandlerOptions): DnsHandler {
  const config = opts.config ?? opts.topology.config.dns;
  const stats = new DnsStats();
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const deps: StageDeps = {
    topology: opts.topology,
    config,
    zone: compileZone(opts.topology, config),
    steering: opts.steering,
    state: opts.state ?? staticState,
    clock,
    stats,
    logger,
    serverId: opts.serverId ?? null,
    leanPath: opts.leanPath ?? process.env.MZ_DNS_LEAN_PATH !== '0',
  };
  const handlers: Handler[] = [];
  const names: string[] = [];
  for (const s of opts.stages ?? STAGES) {
    const h = s.create(deps);
    if (h === null) continue;
    handlers.push(h);
    names.push(s.name);
  }
  const chain = composeChain(handlers, names);

  const run = (raw: Buffer, transport: Transport, address: string, port: number): DnsContext => {
    stats.packets++;
    const ctx = newContext(raw, transport, address, port, clock.now());
    try {
      chain(ctx);
    } catch (err) {
      // a bug or a steering failure must not take the server down: SERVFAIL and carry on
      stats.reject('internal');
      if ((stats.rejected.get('internal') ?? 0) <= 10) logger.warn({ err }, 'dns: internal error answering a query');
      ctx.rcode = RCODE.SERVFAIL;
      // the lean stage parses no ParsedQuery, but it only takes well-formed single questions
      const questionEnd = ctx.query !== null ? ctx.query.questionEnd : ctx.lean ? questionEndOf(raw) : -1;
      ctx.reply =
        questionEnd < 0
          ? null
          : encodeReply({
              query: raw,
              questionEnd,
              rcode: RCODE.SERVFAIL,
              aa: false,
              opt: ctx.replyOpt,
            });
    }
    if (ctx.rejected !== null) stats.reject(ctx.rejected);
    if (ctx.rcode >= 0) stats.countQuery(ctx.rcode, ctx.qtype, transport);
    return ctx;
  };

  return {
    stats,
    stages: names,
    handle(raw, transport, address, port) {
      return run(raw, transport, address, port).reply;
    },
    answer(raw, transport, address, port) {
      const ctx = run(raw, transport, address, port);
      return { reply: ctx.reply, ttl: ctx.ttl };
    },
  };
}
