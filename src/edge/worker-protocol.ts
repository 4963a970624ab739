/**
 * The messages between a zone's process and its edge workers (node's IPC channel, "advanced"
 * serialisation so pushed bodies travel as bytes). The zone's process binds the listeners and
 * sends their sockets after `start`; every process accepts on them.
 */
import type { EdgeAdminOp } from './edge.ts';
import type { EdgeConfig } from './filters.ts';

/** What a worker needs to build the same edge as its zone's process. */
export interface WorkerStart {
  type: 'start';
  /** 1 … workers-1 (the zone's own process is worker 0). */
  index: number;
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

/** Zone process → worker. */
export type ToWorker =
  | WorkerStart
  | { type: 'listen'; i: number }
  | { type: 'apply'; id: number; op: EdgeAdminOp }
  | { type: 'metrics'; id: number }
  | { type: 'relayed'; id: number; n: number }
  | { type: 'zones'; entries: [string, string][] }
  | { type: 'stop' };

/** Worker → zone process. */
export type FromWorker =
  | { type: 'built' }
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'relay'; id: number; op: EdgeAdminOp }
  | { type: 'applied'; id: number; n: number; error?: string }
  | { type: 'metrics'; id: number; metrics: unknown[] }
  | { type: 'requests'; n: number };
