/**
 * An edge worker process (forked by workers.ts through core/worker-pool.ts, never by hand):
 * builds the same edge as its zone's process, serves the sockets it is sent, relays its
 * admin changes to the others through the zone's process and applies theirs.
 */
import { rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { systemClock } from '../core/clock.ts';
import { createLogger } from '../core/logger.ts';
import { runWorker } from '../core/worker-child.ts';
import { createEdge } from './edge.ts';
import type { EdgeWorkerMessage, EdgeWorkerPayload } from './workers.ts';

runWorker<EdgeWorkerPayload>((p, ctx) => {
  const logger = createLogger({ level: p.logLevel, name: `multizone edge worker ${p.zone}#${ctx.index}` });
  // a worker's ring starts empty: it may have missed purges while it was not running
  if (p.config.disk.path) rmSync(p.config.disk.path, { force: true });
  const zones = new Map(p.zoneEdges);
  const edge = createEdge({
    zone: p.zone,
    config: p.config,
    origin: p.origin,
    dynamic: p.dynamic,
    token: p.token,
    clock: systemClock,
    logger,
    metrics: ctx.metrics,
    hosts: p.hosts,
    zoneEdges: () => zones,
    onRequest: ctx.countRequest,
  });
  edge.relay = async (op) => {
    const n = await ctx.ask({ kind: 'apply', op } satisfies EdgeWorkerMessage);
    return typeof n === 'number' ? n : 0;
  };
  return {
    listeners: p.listeners.length,
    attach: (h, i) => edge.attach(h as Server, p.listeners[i] ?? '', i === 0 ? 'main' : 'also'),
    onAsk: async (body) => {
      const m = body as EdgeWorkerMessage;
      return m.kind === 'apply' ? edge.applyRelayed(m.op) : undefined;
    },
    onTell: (body) => {
      const m = body as EdgeWorkerMessage;
      if (m.kind !== 'zones') return;
      zones.clear();
      for (const [z, url] of m.entries) zones.set(z, url);
    },
    close: () => edge.close(),
  };
});
