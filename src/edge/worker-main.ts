/**
 * An edge worker process (started by workers.ts, never by hand): builds the same edge as its
 * zone's process from the `start` message, serves the listening sockets it is sent, applies
 * the admin changes the other workers relay, and reports its requests and metrics. It exits
 * when its zone's process says `stop` or goes away (the IPC channel closes).
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { systemClock } from '../core/clock.ts';
import { createLogger } from '../core/logger.ts';
import { createMetrics } from '../core/metrics.ts';
import { createEdge, type Edge, type EdgeAdminOp } from './edge.ts';
import type { FromWorker, ToWorker, WorkerStart } from './worker-protocol.ts';

const send = (m: FromWorker) => process.send?.(m);

let edge: Edge | undefined;
let start: WorkerStart | undefined;
let attached = 0;
let requests = 0;
let nextId = 1;
const zones = new Map<string, string>();
const pending = new Map<number, (n: number) => void>();
const metrics = createMetrics();

async function relay(op: EdgeAdminOp): Promise<number> {
  const id = nextId++;
  return new Promise<number>((resolve) => {
    pending.set(id, resolve);
    send({ type: 'relay', id, op });
  });
}

function build(m: WorkerStart): Edge {
  const logger = createLogger({ level: m.logLevel, name: `multizone edge worker ${m.zone}#${m.index}` });
  // a worker's ring starts empty: it may have missed purges while it was not running
  if (m.config.disk.path) rmSync(m.config.disk.path, { force: true });
  for (const [z, url] of m.zoneEdges) zones.set(z, url);
  const e = createEdge({
    zone: m.zone,
    config: m.config,
    origin: m.origin,
    dynamic: m.dynamic,
    token: m.token,
    clock: systemClock,
    logger,
    metrics,
    hosts: m.hosts,
    zoneEdges: () => zones,
    onRequest: () => void requests++,
  });
  e.relay = relay;
  return e;
}

async function stop(code: number): Promise<never> {
  await edge?.close().catch(() => {});
  process.exit(code);
}

async function onMessage(m: ToWorker, handle: unknown): Promise<void> {
  switch (m.type) {
    case 'start':
      start = m;
      edge = build(m);
      // only now the sockets: one sent earlier (while this module still loaded) would accept
      // connections on a server nobody listens to
      send({ type: 'built' });
      return;
    case 'listen': {
      if (!edge || !start) return;
      await edge.attach(handle as Server, start.listeners[m.i] ?? '', m.i === 0 ? 'main' : 'also');
      if (++attached === start.listeners.length) send({ type: 'ready' });
      return;
    }
    case 'apply': {
      try {
        send({ type: 'applied', id: m.id, n: edge ? await edge.applyRelayed(m.op) : 0 });
      } catch (e) {
        send({ type: 'applied', id: m.id, n: 0, error: (e as Error).message });
      }
      return;
    }
    case 'metrics':
      send({ type: 'metrics', id: m.id, metrics: await metrics.getMetricsAsJSON() });
      return;
    case 'zones':
      zones.clear();
      for (const [z, url] of m.entries) zones.set(z, url);
      return;
    case 'stop':
      return stop(0);
  }
}

process.on('message', (m: ToWorker, handle: unknown) => {
  if (m.type === 'relayed') {
    pending.get(m.id)?.(m.n);
    pending.delete(m.id);
    return;
  }
  onMessage(m, handle).catch((e: unknown) => {
    send({ type: 'failed', message: (e as Error).message });
    void stop(1);
  });
});
// the zone's process is gone: nothing would stop this worker otherwise
process.on('disconnect', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
// a worker is a process of its own: the system clock is the one it has
systemClock.setInterval(500, () => {
  if (requests === 0) return;
  send({ type: 'requests', n: requests });
  requests = 0;
});
