import type { Change } from '../store/index.ts';
import type { DigestPeer } from './anti-entropy.ts';

/** A batch of one zone's change log, as shipped between zones. */
export interface LogBatch {
  origin: string;
  /** First and last change-log seq the batch covers. Local-class changes are left out, so it may carry fewer. */
  from: number;
  to: number;
  changes: Change[];
  /** Wall time (ms) the origin handed the batch to the log. */
  sentAt: number;
}

/**
 * What a handler may answer for a batch it applied but has not made durable yet (e.g. a
 * commit with `synchronous_commit = off`): the next batch comes at once, but the log counts
 * this one finished (acknowledges it; a new subscription continues after it) only once
 * `durable` resolves, in order. If `durable` rejects, no later batch of the subscription is
 * acknowledged either: the handler's owner subscribes again and gets them back.
 */
export interface Applied {
  durable: Promise<void>;
}

/** Handler of one destination's batches (see Log.subscribe). */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler done at once returns nothing, as every store applier does
export type BatchHandler = (b: LogBatch) => Promise<void | Applied>;

/** A running delivery of one origin's batches to one destination. */
export interface LogSubscription {
  /** Serves a local zone for anti-entropy with zones in other processes (logs that span processes). */
  serveDigests?(peer: DigestPeer): () => void;
  /** A zone in another process, for anti-entropy (logs that span processes). */
  remotePeer?(zone: string): DigestPeer;
  close(): Promise<void>;
}

/**
 * The log between zones. Both adapters (in-process, NATS JetStream) pass one contract
 * suite (test/integration/replication/log.contract.ts).
 */
export interface Log {
  readonly kind: 'memory' | 'jetstream';
  /** Appends a batch to its origin's stream; resolves once the log holds it durably. */
  append(batch: LogBatch): Promise<void>;
  /**
   * Delivers origin's batches to dest in append order, one at a time (the next after the
   * handler resolves; a handler that throws gets the same batch again later). Batches
   * whose `to` is at or below `afterSeq` may be skipped. Durable per (origin, dest): a new
   * subscription continues after the last batch the handler finished (with an `Applied`
   * answer: the last one whose `durable` resolved).
   */
  subscribe(origin: string, dest: string, afterSeq: number, handler: BatchHandler): Promise<LogSubscription>;
  /**
   * The `to` of the last batch dest finished from origin's stream (dest's applied position
   * as the log knows it; 0 if none, undefined if the log cannot tell). Lets a process
   * measure lag to zones that run elsewhere.
   */
  ackedUpTo(origin: string, dest: string): Promise<number | undefined>;
  /** Serves a local zone for anti-entropy with zones in other processes (logs that span processes). */
  serveDigests?(peer: DigestPeer): () => void;
  /** A zone in another process, for anti-entropy (logs that span processes). */
  remotePeer?(zone: string): DigestPeer;
  close(): Promise<void>;
}
