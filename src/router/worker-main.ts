/**
 * A router worker process (forked by workers.ts through core/worker-pool.ts, never by hand):
 * builds its zone's router from the topology, serves the listening sockets it is sent, and
 * routes by the copy of its zone's shard map, addresses and partitions the zone's process
 * keeps sending.
 */
import type { Server } from 'node:net';
import { systemClock } from '../core/clock.ts';
import { runWorker } from '../core/worker-child.ts';
import { ShardMapMirror, ZoneFaults } from '../shardmap/index.ts';
import { parseTopology } from '../topology/index.ts';
import { RequestSigner } from '../trust/index.ts';
import { createRouter } from './server.ts';
import type { RouterWorkerPayload, RouterWorkerState } from './workers.ts';

runWorker<RouterWorkerPayload>((p, ctx) => {
  const topology = parseTopology(p.topology, p.file);
  const map = new ShardMapMirror(systemClock);
  const faults = new ZoneFaults();
  let state = p.state;
  const take = (s: RouterWorkerState) => {
    state = s;
    map.restore(s.map);
    for (const z of faults.list()) if (!s.isolated.includes(z)) faults.setIsolated(z, false);
    for (const z of s.isolated) faults.setIsolated(z, true);
  };
  take(p.state);
  const router = createRouter({
    topology,
    zone: p.zone,
    map,
    resolve: (name) => state.addresses[name],
    clock: systemClock,
    signer: new RequestSigner({ ...p.signer, clock: systemClock }),
    metrics: ctx.metrics,
    cut: (a, b) => faults.cut(a, b),
    ...(p.app ? { app: { signer: new RequestSigner({ ...p.app, clock: systemClock }), up: () => state.appUp } } : {}),
  });
  router.server.on('request', ctx.countRequest);
  return {
    listeners: p.listeners,
    attach: (h, i) => router.attach(h as Server, i === 0 ? 'main' : 'also'),
    onAsk: async (body) => take(body as RouterWorkerState),
    onTell: (body) => take(body as RouterWorkerState),
    close: () => router.close(),
  };
});
